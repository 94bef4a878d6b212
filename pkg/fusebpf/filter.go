package fusebpf

// filterState is the per-mount policy state; nil means allow-all.
type filterState struct{}
