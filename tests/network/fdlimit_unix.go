//go:build unix

package main

import (
	"strconv"
	"syscall"
)

// avalancheGoFDLimit is AvalancheGo's default --fd-limit on Linux (utils/ulimit: 32 * 1024).
const avalancheGoFDLimit = 32 * 1024

// fdLimitFlag returns a --fd-limit value the node can apply, or "" to keep its default.
// AvalancheGo refuses to start ("error fd-limit: (32768) greater than max") when the hard
// RLIMIT_NOFILE is below its default, as it is in some containers.
func fdLimitFlag() string {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return ""
	}
	if uint64(rl.Max) >= avalancheGoFDLimit {
		return ""
	}
	return strconv.FormatUint(uint64(rl.Max), 10)
}
