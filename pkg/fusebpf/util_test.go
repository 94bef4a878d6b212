package fusebpf

import (
	"errors"
	"syscall"
)

func isErrno(err error, want syscall.Errno) bool {
	var e syscall.Errno
	return errors.As(err, &e) && e == want
}
