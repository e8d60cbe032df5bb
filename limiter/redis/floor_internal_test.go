package redis

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"
)

// value is a stored value of the scripts at tat (µs) under epoch.
func value(tat int64, epoch string) string {
	return fmt.Sprintf("%d.%06d0%s%016d", tat/1_000_000, tat%1_000_000, epoch, rand.Uint64N(1e16))
}

// TestFloorsModel: in any order of raises and cancels, a key's floor is the
// latest slot still held (a multiset's maximum), and a Reset's epoch drops
// them all.
func TestFloorsModel(t *testing.T) {
	const key = "rate:{k}"
	for seed := range uint64(200) {
		rng := rand.New(rand.NewPCG(seed, 1))
		var f floors
		var held []undoKey // the model: slots granted and not cancelled
		epoch := noEpoch
		for step := range 200 {
			switch op := rng.IntN(10); {
			case op < 5 || len(held) == 0:
				tat := 1_000_000 + rng.Int64N(1000) // out of order, ties too
				k := undoKey{rkey: key, mine: value(tat, epoch)}
				f.raise(key, k.mine, time.Hour)
				held = append(held, k)
			case op < 9:
				i := rng.IntN(len(held))
				f.lower(held[i])
				held = append(held[:i], held[i+1:]...)
			default:
				epoch = fmt.Sprintf("%09d", 1+rng.IntN(999_999_998))
				held = held[:0]
				k := undoKey{rkey: key, mine: value(5, epoch)}
				f.raise(key, k.mine, time.Hour)
				held = append(held, k)
			}
			want := int64(0)
			for _, k := range held {
				tat, _, _ := parseValue(k.mine)
				want = max(want, tat)
			}
			if got, e := f.get(key); got != want || (want != 0 && e != epoch) {
				t.Fatalf("seed %d step %d: floor %d (epoch %s), want %d (epoch %s)", seed, step, got, e, want, epoch)
			}
		}
	}
}

// TestFloorsPruneAmortized: with more live keys than pruneAt, a raise does
// not scan every key (before, each raise scanned them all: quadratic in
// the keys of a handle with many reserved keys).
func TestFloorsPruneAmortized(t *testing.T) {
	var f floors
	for i := range pruneAt + 1000 {
		f.raise("rate:{k"+strconv.Itoa(i)+"}", value(1_000_000, noEpoch), time.Hour)
	}
	if f.sweeps > 2 {
		t.Fatalf("%d sweeps of the keys over %d raises of live keys, want at most 2", f.sweeps, pruneAt+1000)
	}
	// Keys whose slots came are still dropped.
	for i := range pruneAt * 2 {
		f.raise("rate:{gone"+strconv.Itoa(i)+"}", value(1_000_000, noEpoch), -time.Second)
	}
	if n := len(f.m); n > 3*(pruneAt+1000) {
		t.Fatalf("%d keys kept, want the ones whose slots came dropped", n)
	}
}

// BenchmarkFloorsHeld is a reservation's floor bookkeeping (get, raise, and
// the cancel of one slot) on a key with b.N... held slots of this handle:
// many waiters queued on one key.
func BenchmarkFloorsHeld(b *testing.B) {
	for _, n := range []int{10, 1000, 100_000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			var f floors
			const key = "rate:{k}"
			for i := range n {
				f.raise(key, value(int64(1_000_000+i), noEpoch), time.Hour)
			}
			tat := int64(1_000_000 + n)
			b.ResetTimer()
			for range b.N {
				f.get(key)
				k := undoKey{rkey: key, mine: value(tat, noEpoch)}
				f.raise(key, k.mine, time.Hour)
				f.lower(k)
			}
		})
	}
}
