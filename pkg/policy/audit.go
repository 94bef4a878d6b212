package policy

import (
	"encoding/binary"
	"fmt"
)

// AuditEvent is one event of the audit policy's ring buffer (struct
// audit_event in bpf/audit.bpf.c).
type AuditEvent struct {
	NodeID   uint64
	Opcode   uint32
	Result   int32 // 0 or -errno
	UID, GID uint32
	PID      uint32
	Name     string
}

const auditEventSize = 32 + 64

// DecodeAuditEvent decodes a raw audit event.
func DecodeAuditEvent(b []byte) (AuditEvent, error) {
	if len(b) < auditEventSize {
		return AuditEvent{}, fmt.Errorf("audit event of %d bytes, want %d", len(b), auditEventSize)
	}
	le := binary.LittleEndian
	n := min(int(le.Uint32(b[28:])), 64)
	return AuditEvent{
		NodeID: le.Uint64(b[0:]),
		Opcode: le.Uint32(b[8:]),
		Result: int32(le.Uint32(b[12:])),
		UID:    le.Uint32(b[16:]),
		GID:    le.Uint32(b[20:]),
		PID:    le.Uint32(b[24:]),
		Name:   string(b[32 : 32+n]),
	}, nil
}
