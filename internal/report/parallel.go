package report

import (
	"runtime"
	"sync"
)

// minPart is the fewest flows worth a goroutine of their own.
const minPart = 1 << 14

// partition splits [0, n) into one part per CPU, none smaller than
// minPart. parts[p] is where part p starts; the last element is n.
func partition(n int) []int {
	count := max(1, min(runtime.GOMAXPROCS(0), n/minPart))
	parts := make([]int, count+1)
	for p := range parts {
		parts[p] = n * p / count
	}
	return parts
}

// parallelParts runs work on each part at once.
func parallelParts(parts []int, work func(lo, hi int)) {
	if len(parts) == 2 {
		work(parts[0], parts[1])
		return
	}
	var wg sync.WaitGroup
	for p := 0; p+1 < len(parts); p++ {
		wg.Go(func() { work(parts[p], parts[p+1]) })
	}
	wg.Wait()
}

// parallel runs work on [0, n), split in parts as partition does.
func parallel(n int, work func(lo, hi int)) {
	parallelParts(partition(n), work)
}
