package bpfvm

import "testing"

func chainProg(dep bool, n int) []byte {
	var w []uint64
	// r1 = counter
	w = append(w, encodeInsn(clsALU64|aluMOV, 1, 0, 0, 1000))
	loop := len(w)
	for i := 0; i < n; i++ {
		d := uint8(0)
		if !dep {
			d = uint8(2 + i%7)
		}
		w = append(w, encodeInsn(clsALU64|aluXOR, d, 0, 0, int32(i*7+1)))
	}
	w = append(w, encodeInsn(clsALU64|aluSUB, 1, 0, 0, 1))
	w = append(w, encodeInsn(clsJMP|jmpJNE, 1, 0, int16(loop-len(w)-1), 0))
	w = append(w, encodeInsn(clsJMP|jmpEXIT, 0, 0, 0, 0))
	return rawProgram(w...)
}

func BenchmarkZZLatency(b *testing.B) {
	for _, dep := range []bool{true, false} {
		name := "indep"
		if dep {
			name = "dep"
		}
		p, err := newRawProgram(name, chainProg(dep, 32), &Options{Budget: 1 << 30}, false)
		if err != nil {
			b.Fatal(err)
		}
		r := p.NewRun()
		b.Run(name, func(b *testing.B) { benchVM(b, r) })
	}
}
