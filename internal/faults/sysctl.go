package faults

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// sysctl is one /proc/sys setting, key relative to /proc/sys
// ("net/ipv4/conf/eth0/rp_filter").
type sysctl struct{ key, value string }

// setSysctls writes settings inside ns and returns the values they had, for
// restoreSysctls. /proc/sys/net is per namespace: a file opened by a thread
// applies to that thread's namespace. On error nothing stays changed.
func setSysctls(ns Netns, settings []sysctl) ([]sysctl, error) {
	var old []sysctl
	err := ns.Do(func() error {
		for _, s := range settings {
			path := filepath.Join("/proc/sys", s.key)
			prev, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			if err := os.WriteFile(path, []byte(s.value), 0); err != nil {
				return fmt.Errorf("%s=%s: %w", s.key, s.value, err)
			}
			old = append(old, sysctl{s.key, strings.TrimSpace(string(prev))})
		}
		return nil
	})
	if err != nil {
		return nil, errors.Join(fmt.Errorf("faults: sysctls in %v: %w", ns, err), restoreSysctls(ns, old))
	}
	return old, nil
}

// restoreSysctls writes old values back, last changed first.
func restoreSysctls(ns Netns, old []sysctl) error {
	if len(old) == 0 {
		return nil
	}
	return ns.Do(func() error {
		var errs []error
		for i := len(old) - 1; i >= 0; i-- {
			s := old[i]
			if err := os.WriteFile(filepath.Join("/proc/sys", s.key), []byte(s.value), 0); err != nil {
				errs = append(errs, fmt.Errorf("faults: restore %s=%s in %v: %w", s.key, s.value, ns, err))
			}
		}
		return errors.Join(errs...)
	})
}
