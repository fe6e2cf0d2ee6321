package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"reflect"
	"time"

	"github.com/cilium/ebpf"
)

type mapReadResult struct {
	IterateEntries int     `json:"iterate_entries"`
	IterateSeconds float64 `json:"iterate_seconds"`
	BatchEntries   int     `json:"batch_entries"`
	BatchSeconds   float64 `json:"batch_seconds"`
}

// mapRead times reading a (per-CPU) hash map by id two ways: one key at a
// time (Map.Iterate: BPF_MAP_GET_NEXT_KEY + BPF_MAP_LOOKUP_ELEM per entry,
// what a report snapshot does when it iterates) and in batches
// (BPF_MAP_LOOKUP_BATCH). Values are read as raw bytes, not decoded.
func mapRead(args []string) error {
	fs := flag.NewFlagSet("mapread", flag.ContinueOnError)
	id := fs.Int("id", 0, "map id")
	chunk := fs.Int("batch", 4096, "entries per batch")
	if err := fs.Parse(args); err != nil {
		return err
	}
	m, err := ebpf.NewMapFromID(ebpf.MapID(*id))
	if err != nil {
		return err
	}
	defer m.Close()
	ncpu := 1
	if t := m.Type(); t == ebpf.PerCPUHash || t == ebpf.LRUCPUHash || t == ebpf.PerCPUArray {
		if ncpu, err = ebpf.PossibleCPU(); err != nil {
			return err
		}
	}
	byteArr := func(n uint32) reflect.Type { return reflect.ArrayOf(int(n), reflect.TypeOf(byte(0))) }
	var res mapReadResult

	key := reflect.New(byteArr(m.KeySize())).Interface()
	vals := reflect.MakeSlice(reflect.SliceOf(byteArr(m.ValueSize())), ncpu, ncpu).Interface()
	t0 := time.Now()
	it := m.Iterate()
	for it.Next(key, vals) {
		res.IterateEntries++
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("iterate: %w", err)
	}
	res.IterateSeconds = time.Since(t0).Seconds()

	keys := reflect.MakeSlice(reflect.SliceOf(byteArr(m.KeySize())), *chunk, *chunk).Interface()
	bvals := reflect.MakeSlice(reflect.SliceOf(byteArr(m.ValueSize())), *chunk*ncpu, *chunk*ncpu).Interface()
	var cursor ebpf.MapBatchCursor
	t0 = time.Now()
	for {
		n, err := m.BatchLookup(&cursor, keys, bvals, nil)
		res.BatchEntries += n
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			break
		}
		if err != nil {
			return fmt.Errorf("batch lookup: %w", err)
		}
	}
	res.BatchSeconds = time.Since(t0).Seconds()
	return json.NewEncoder(os.Stdout).Encode(res)
}
