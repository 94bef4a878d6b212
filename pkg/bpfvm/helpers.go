package bpfvm

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Helper numbers of the helpers the interpreter implements (Linux uapi).
const (
	HelperMapLookupElem     = 1
	HelperMapUpdateElem     = 2
	HelperMapDeleteElem     = 3
	HelperKtimeGetNs        = 5
	HelperTracePrintk       = 6
	HelperGetCurrentPidTgid = 14
	HelperGetCurrentUidGid  = 15
	HelperKtimeGetBootNs    = 125
	HelperRingbufOutput     = 130
	HelperRingbufReserve    = 131
	HelperRingbufSubmit     = 132
	HelperRingbufDiscard    = 133
	HelperRingbufQuery      = 134
	HelperTraceVprintk      = 177
	HelperStrncmp           = 182
	HelperDynptrFromMem     = 197
	HelperDynptrRead        = 201
	HelperDynptrWrite       = 202
	HelperDynptrData        = 203
)

// Linux errno values helpers return (negated) in R0.
const (
	eNOENT  = 2
	e2BIG   = 7
	eAGAIN  = 11
	eEXIST  = 17
	eINVAL  = 22
	eRANGE  = 34
	ePERM   = 1
	errnoOK = 0
)

func errno(e int64) uint64 { return uint64(-e) }

type builtin struct {
	name string
	fn   HelperFunc
}

var builtinHelpers = map[int32]builtin{
	HelperMapLookupElem:     {"bpf_map_lookup_elem", helperMapLookup},
	HelperMapUpdateElem:     {"bpf_map_update_elem", helperMapUpdate},
	HelperMapDeleteElem:     {"bpf_map_delete_elem", helperMapDelete},
	HelperKtimeGetNs:        {"bpf_ktime_get_ns", helperKtime},
	HelperKtimeGetBootNs:    {"bpf_ktime_get_boot_ns", helperKtime},
	HelperTracePrintk:       {"bpf_trace_printk", helperTracePrintk},
	HelperTraceVprintk:      {"bpf_trace_vprintk", helperTraceVprintk},
	HelperGetCurrentPidTgid: {"bpf_get_current_pid_tgid", helperPidTgid},
	HelperGetCurrentUidGid:  {"bpf_get_current_uid_gid", helperUidGid},
	HelperRingbufOutput:     {"bpf_ringbuf_output", helperRingbufOutput},
	HelperRingbufReserve:    {"bpf_ringbuf_reserve", helperRingbufReserve},
	HelperRingbufSubmit:     {"bpf_ringbuf_submit", helperRingbufSubmit},
	HelperRingbufDiscard:    {"bpf_ringbuf_discard", helperRingbufDiscard},
	HelperRingbufQuery:      {"bpf_ringbuf_query", helperRingbufQuery},
	HelperStrncmp:           {"bpf_strncmp", helperStrncmp},
	HelperDynptrFromMem:     {"bpf_dynptr_from_mem", helperDynptrFromMem},
	HelperDynptrRead:        {"bpf_dynptr_read", helperDynptrRead},
	HelperDynptrWrite:       {"bpf_dynptr_write", helperDynptrWrite},
	HelperDynptrData:        {"bpf_dynptr_data", helperDynptrData},
}

var builtinKfuncs = map[string]HelperFunc{
	"bpf_dynptr_slice":      kfuncDynptrSlice,
	"bpf_dynptr_slice_rdwr": kfuncDynptrSliceRdwr,
	"bpf_dynptr_size":       kfuncDynptrSize,
	"bpf_dynptr_is_null":    kfuncDynptrIsNull,
	"bpf_dynptr_is_rdonly":  kfuncDynptrIsRdonly,
	"bpf_dynptr_adjust":     kfuncDynptrAdjust,
}

// errBadMapPointer is the cause when a map helper gets something that is
// not a map; the kernel verifier would have refused the program.
var errBadMapPointer = errors.New("argument is not a map")

func (r *Run) mapArg(addr uint64) (*Map, error) {
	maps := r.prog.env.maps
	if addr>>32 != regionMapPtrs || uint32(addr) >= uint32(len(maps)) {
		return nil, fmt.Errorf("%w (%#x)", errBadMapPointer, addr)
	}
	return maps[uint32(addr)], nil
}

func mapErrno(err error) uint64 {
	switch {
	case err == nil:
		return errnoOK
	case errors.Is(err, ErrKeyNotExist):
		return errno(eNOENT)
	case errors.Is(err, ErrKeyExist):
		return errno(eEXIST)
	case errors.Is(err, ErrMapFull):
		return errno(e2BIG)
	case errors.Is(err, ErrReadOnly):
		return errno(ePERM)
	default:
		return errno(eINVAL)
	}
}

func helperMapLookup(r *Run, mp, key, _, _, _ uint64) (uint64, error) {
	m, err := r.mapArg(mp)
	if err != nil {
		return 0, err
	}
	if m.ring != nil {
		return 0, fmt.Errorf("%w: lookup in ring buffer %s", errBadMapPointer, m.name)
	}
	k, err := r.view(key, uint64(m.keySize), 0)
	if err != nil {
		return 0, err
	}
	slot, ok := m.slotOf(k)
	if !ok {
		return 0, nil
	}
	return uint64(m.regionID)<<32 | uint64(slot)*uint64(m.stride), nil
}

func helperMapUpdate(r *Run, mp, key, value, flags, _ uint64) (uint64, error) {
	m, err := r.mapArg(mp)
	if err != nil {
		return 0, err
	}
	if m.ring != nil {
		return 0, fmt.Errorf("%w: update of ring buffer %s", errBadMapPointer, m.name)
	}
	if m.progRO {
		return errno(ePERM), nil
	}
	k, err := r.view(key, uint64(m.keySize), 0)
	if err != nil {
		return 0, err
	}
	v, err := r.view(value, uint64(m.valueSize), 1)
	if err != nil {
		return 0, err
	}
	return mapErrno(m.update(k, v, flags)), nil
}

func helperMapDelete(r *Run, mp, key, _, _, _ uint64) (uint64, error) {
	m, err := r.mapArg(mp)
	if err != nil {
		return 0, err
	}
	if m.ring != nil {
		return 0, fmt.Errorf("%w: delete from ring buffer %s", errBadMapPointer, m.name)
	}
	if m.progRO {
		return errno(ePERM), nil
	}
	k, err := r.view(key, uint64(m.keySize), 0)
	if err != nil {
		return 0, err
	}
	return mapErrno(m.delete(k)), nil
}

var monoStart = time.Now()

func helperKtime(r *Run, _, _, _, _, _ uint64) (uint64, error) {
	if c := r.prog.env.clock; c != nil {
		return c(), nil
	}
	return uint64(time.Since(monoStart)), nil
}

func helperPidTgid(r *Run, _, _, _, _, _ uint64) (uint64, error) {
	return uint64(r.caller.TGID)<<32 | uint64(r.caller.PID), nil
}

func helperUidGid(r *Run, _, _, _, _, _ uint64) (uint64, error) {
	return uint64(r.caller.GID)<<32 | uint64(r.caller.UID), nil
}

// ---- ring buffer ----

func (r *Run) ringArg(addr uint64) (*RingBuffer, error) {
	m, err := r.mapArg(addr)
	if err != nil {
		return nil, err
	}
	if m.ring == nil {
		return nil, fmt.Errorf("%w: %s is not a ring buffer", errBadMapPointer, m.name)
	}
	return m.ring, nil
}

func helperRingbufReserve(r *Run, mp, size, flags, _, _ uint64) (uint64, error) {
	rb, err := r.ringArg(mp)
	if err != nil {
		return 0, err
	}
	if flags != 0 || size > 1<<32-1 {
		return 0, nil
	}
	if len(r.regions)-r.nfixed >= MaxRunRegions {
		return 0, nil
	}
	data, seq, ok := rb.reserve(size)
	if !ok {
		return 0, nil
	}
	addr, _ := r.addRegion(region{data: data, flags: flagLive | flagWrite, owner: uint32(len(r.records))})
	r.records = append(r.records, ringRecord{rb: rb, seq: seq, region: uint32(addr >> 32)})
	return addr, nil
}

var errNotReserved = errors.New("pointer is not a reserved ring buffer record")

func (r *Run) finishRecord(addr, flags uint64, commit bool) (uint64, error) {
	if flags&^(ringNoWakeup|ringForceWakeup) != 0 {
		return 0, fmt.Errorf("%w: flags %#x", ErrBadArgument, flags)
	}
	id := addr >> 32
	if uint32(addr) != 0 || id < uint64(r.nfixed) || id >= uint64(len(r.regions)) {
		return 0, fmt.Errorf("%w (%#x)", errNotReserved, addr)
	}
	rg := &r.regions[id]
	if rg.owner >= uint32(len(r.records)) || r.records[rg.owner].rb == nil || r.records[rg.owner].region != uint32(id) {
		return 0, fmt.Errorf("%w (%#x)", errNotReserved, addr)
	}
	rec := &r.records[rg.owner]
	rec.rb.finish(rec.seq, commit)
	rec.rb = nil
	rg.data = nil // the record now belongs to the consumer
	rg.flags = 0
	return 0, nil
}

func helperRingbufSubmit(r *Run, data, flags, _, _, _ uint64) (uint64, error) {
	return r.finishRecord(data, flags, true)
}

func helperRingbufDiscard(r *Run, data, flags, _, _, _ uint64) (uint64, error) {
	return r.finishRecord(data, flags, false)
}

func helperRingbufOutput(r *Run, mp, data, size, flags, _ uint64) (uint64, error) {
	rb, err := r.ringArg(mp)
	if err != nil {
		return 0, err
	}
	if flags&^(ringNoWakeup|ringForceWakeup) != 0 {
		return errno(eINVAL), nil
	}
	src, err := r.view(data, size, 0)
	if err != nil {
		return 0, err
	}
	dst, seq, ok := rb.reserve(size)
	if !ok {
		return errno(eAGAIN), nil
	}
	copy(dst, src)
	rb.finish(seq, true)
	return 0, nil
}

func helperRingbufQuery(r *Run, mp, flags, _, _, _ uint64) (uint64, error) {
	rb, err := r.ringArg(mp)
	if err != nil {
		return 0, err
	}
	return rb.query(flags), nil
}

// ---- strings and tracing ----

func helperStrncmp(r *Run, s1, n, s2, _, _ uint64) (uint64, error) {
	if n == 0 {
		return 0, nil
	}
	// The kernel's strncmp reads s2 only up to the first difference or NUL,
	// so s2 may end (region-wise) before n bytes.
	a, err := r.span(s1, n, 0)
	if err != nil {
		return 0, err
	}
	b, err := r.span(s2, n, 1)
	if err != nil {
		return 0, err
	}
	for i := uint64(0); i < n; i++ {
		if i == uint64(len(a)) || i == uint64(len(b)) {
			// Ran off a region before deciding: fault at the first byte
			// beyond it, as reading it would.
			if i == uint64(len(a)) {
				_, err = r.byteAt(s1 + i)
			} else {
				_, err = r.byteAt(s2 + i)
			}
			return 0, err
		}
		c1, c2 := a[i], b[i]
		if c1 != c2 {
			if c1 < c2 {
				return uint64(1<<64 - 1), nil // -1
			}
			return 1, nil
		}
		if c1 == 0 {
			break
		}
	}
	return 0, nil
}

// maxTraceArgs is the kernel's MAX_BPRINTF_VARARGS.
const maxTraceArgs = 12

func helperTracePrintk(r *Run, f, fsize, a1, a2, a3 uint64) (uint64, error) {
	args := [3]uint64{a1, a2, a3}
	return r.tracef(f, fsize, args[:])
}

func helperTraceVprintk(r *Run, f, fsize, data, dataLen, _ uint64) (uint64, error) {
	if dataLen%8 != 0 || dataLen > 8*maxTraceArgs || (data == 0) != (dataLen == 0) {
		return errno(eINVAL), nil
	}
	var args [maxTraceArgs]uint64
	for i := uint64(0); i < dataLen/8; i++ {
		v, err := r.ReadUint(data+8*i, 8)
		if err != nil {
			return 0, err
		}
		args[i] = v
	}
	return r.tracef(f, fsize, args[:dataLen/8])
}

// tracef formats a bpf_trace_printk format with the kernel's supported
// conversions (%d %i %u %x %X %c %s %p and the l, ll, h, hh modifiers,
// with flags and width) and hands the line to Options.Trace.
func (r *Run) tracef(f, fsize uint64, args []uint64) (uint64, error) {
	if fsize == 0 || fsize > 1024 {
		return errno(eINVAL), nil
	}
	format, err := r.view(f, fsize, 0)
	if err != nil {
		return 0, err
	}
	end := -1
	for i, c := range format {
		if c == 0 {
			end = i
			break
		}
	}
	if end < 0 {
		return errno(eINVAL), nil // format must be NUL-terminated
	}
	format = format[:end]
	out := r.fmtBuf[:0]
	argi := 0
	for i := 0; i < len(format); i++ {
		c := format[i]
		if c != '%' {
			out = append(out, c)
			continue
		}
		i++
		if i < len(format) && format[i] == '%' {
			out = append(out, '%')
			continue
		}
		start := i
		for i < len(format) && (format[i] == '-' || format[i] == '+' || format[i] == ' ' || format[i] == '0' || format[i] == '#') {
			i++
		}
		for i < len(format) && format[i] >= '0' && format[i] <= '9' {
			i++
		}
		spec := string(format[start:i]) // flags and width
		size := 32
		for i < len(format) && (format[i] == 'l' || format[i] == 'h') {
			if format[i] == 'l' {
				size = 64
			} else if size > 8 {
				size /= 2
			}
			i++
		}
		if i >= len(format) || argi >= len(args) {
			return errno(eINVAL), nil
		}
		v := args[argi]
		argi++
		var s []byte
		switch format[i] {
		case 'd', 'i':
			s = strconv.AppendInt(nil, signExtend(v, size), 10)
		case 'u':
			s = strconv.AppendUint(nil, truncate(v, size), 10)
		case 'x':
			s = strconv.AppendUint(nil, truncate(v, size), 16)
			if hasFlag(spec, '#') {
				s = append([]byte("0x"), s...)
			}
		case 'X':
			s = []byte(upper(strconv.FormatUint(truncate(v, size), 16)))
			if hasFlag(spec, '#') {
				s = append([]byte("0X"), s...)
			}
		case 'c':
			s = []byte{byte(v)}
		case 'p':
			s = append([]byte("0x"), strconv.AppendUint(nil, v, 16)...)
		case 's':
			str, err := r.cString(v, 256)
			if err != nil {
				return 0, err
			}
			s = str
		default:
			return errno(eINVAL), nil
		}
		out = appendPadded(out, s, spec)
	}
	r.fmtBuf = out
	if t := r.prog.env.trace; t != nil {
		t(r, string(out))
	}
	return uint64(len(out)), nil
}

func signExtend(v uint64, size int) int64 {
	switch size {
	case 8:
		return int64(int8(v))
	case 16:
		return int64(int16(v))
	case 32:
		return int64(int32(v))
	}
	return int64(v)
}

func truncate(v uint64, size int) uint64 {
	if size == 64 {
		return v
	}
	return v & (1<<size - 1)
}

func hasFlag(spec string, f byte) bool {
	for i := 0; i < len(spec) && (spec[i] < '1' || spec[i] > '9'); i++ {
		if spec[i] == f {
			return true
		}
	}
	return false
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'f' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

func appendPadded(out, s []byte, spec string) []byte {
	width := 0
	left, zero := false, false
	for i := 0; i < len(spec); i++ {
		switch c := spec[i]; {
		case c == '-':
			left = true
		case c == '0' && width == 0:
			zero = true
		case c >= '0' && c <= '9':
			width = width*10 + int(c-'0')
		}
	}
	width = min(width, 64)
	pad := width - len(s)
	if pad <= 0 {
		return append(out, s...)
	}
	if left {
		out = append(out, s...)
		for ; pad > 0; pad-- {
			out = append(out, ' ')
		}
		return out
	}
	fill := byte(' ')
	if zero {
		fill = '0'
		if len(s) > 0 && s[0] == '-' {
			out = append(out, '-')
			s = s[1:]
		}
	}
	for ; pad > 0; pad-- {
		out = append(out, fill)
	}
	return append(out, s...)
}

// cString reads a NUL-terminated string of at most max bytes.
func (r *Run) cString(addr uint64, max int) ([]byte, error) {
	var s []byte
	for i := 0; i < max; i++ {
		c, err := r.byteAt(addr + uint64(i))
		if err != nil {
			return nil, err
		}
		if c == 0 {
			break
		}
		s = append(s, c)
	}
	return s, nil
}

// ---- dynptrs ----

func helperDynptrFromMem(r *Run, data, size, flags, ptr, _ uint64) (uint64, error) {
	if flags != 0 {
		return errno(eINVAL), r.SetDynptrNull(ptr)
	}
	if size > DynptrMaxSize {
		return errno(e2BIG), r.SetDynptrNull(ptr)
	}
	rg, _ := r.translate(data, size, false)
	if rg == nil {
		return 0, r.memErr()
	}
	perm := ReadOnly
	if rg.flags&flagWrite != 0 {
		perm = ReadWrite
	}
	return 0, r.InitDynptr(ptr, data, uint32(size), perm)
}

func helperDynptrRead(r *Run, dst, n, src, off, flags uint64) (uint64, error) {
	d, ok, err := r.dynptrAt(src)
	if err != nil {
		return 0, err
	}
	if !ok || flags != 0 {
		return errno(eINVAL), nil
	}
	if off > uint64(d.size) || n > uint64(d.size)-off {
		return errno(e2BIG), nil
	}
	return 0, r.copyGuest(dst, d.addr+off, n)
}

func helperDynptrWrite(r *Run, dst, off, src, n, flags uint64) (uint64, error) {
	d, ok, err := r.dynptrAt(dst)
	if err != nil {
		return 0, err
	}
	if !ok || d.rdonly || flags != 0 {
		return errno(eINVAL), nil
	}
	if off > uint64(d.size) || n > uint64(d.size)-off {
		return errno(e2BIG), nil
	}
	return 0, r.copyGuest(d.addr+off, src, n)
}

func helperDynptrData(r *Run, ptr, off, n, _, _ uint64) (uint64, error) {
	d, ok, err := r.dynptrAt(ptr)
	if err != nil || !ok || d.rdonly || off > uint64(d.size) || n > uint64(d.size)-off {
		return 0, err
	}
	return r.dynptrView(d, off, n, true)
}

func kfuncDynptrSlice(r *Run, ptr, off, _, n, _ uint64) (uint64, error) {
	d, ok, err := r.dynptrAt(ptr)
	if err != nil || !ok || off > uint64(d.size) || n > uint64(d.size)-off {
		return 0, err
	}
	return r.dynptrView(d, off, n, false)
}

func kfuncDynptrSliceRdwr(r *Run, ptr, off, _, n, _ uint64) (uint64, error) {
	d, ok, err := r.dynptrAt(ptr)
	if err != nil || !ok || d.rdonly || off > uint64(d.size) || n > uint64(d.size)-off {
		return 0, err
	}
	return r.dynptrView(d, off, n, true)
}

func kfuncDynptrSize(r *Run, ptr, _, _, _, _ uint64) (uint64, error) {
	d, ok, err := r.dynptrAt(ptr)
	if err != nil {
		return 0, err
	}
	if !ok {
		return uint64(uint32(errno(eINVAL))), nil
	}
	return uint64(d.size), nil
}

func kfuncDynptrIsNull(r *Run, ptr, _, _, _, _ uint64) (uint64, error) {
	_, ok, err := r.dynptrAt(ptr)
	if err != nil || ok {
		return 0, err
	}
	return 1, nil
}

func kfuncDynptrIsRdonly(r *Run, ptr, _, _, _, _ uint64) (uint64, error) {
	d, ok, err := r.dynptrAt(ptr)
	if err != nil || !ok || !d.rdonly {
		return 0, err
	}
	return 1, nil
}

func kfuncDynptrAdjust(r *Run, ptr, start, end, _, _ uint64) (uint64, error) {
	d, ok, err := r.dynptrAt(ptr)
	if err != nil {
		return 0, err
	}
	start, end = uint64(uint32(start)), uint64(uint32(end))
	if !ok || start > end {
		return errno(eINVAL), nil
	}
	if end > uint64(d.size) {
		return errno(eRANGE), nil
	}
	perm := ReadWrite
	if d.rdonly {
		perm = ReadOnly
	}
	// A new table entry: copies of the old dynptr keep their view.
	return 0, r.InitDynptr(ptr, d.addr+start, uint32(end-start), perm)
}
