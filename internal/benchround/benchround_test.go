package benchround

import (
	"testing"
	"time"
)

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		xs   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{4, 1, 3, 2}, 2.5}, {[]float64{5, 1, 9}, 5}} {
		if got := Median(c.xs); got != c.want {
			t.Errorf("Median(%v) = %v, want %v", c.xs, got, c.want)
		}
	}
}

func TestQuantile(t *testing.T) {
	l := NewLatencies(1000)
	if got := l.Quantile(0.5); got != 0 {
		t.Errorf("Quantile of none = %v, want 0", got)
	}
	for i := 1000; i >= 1; i-- {
		l.Add(time.Duration(i))
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0, 1}, {0.5, 501}, {0.999, 1000}, {0.998, 999}, {1, 1000}} {
		if got := l.Quantile(c.q); got != c.want {
			t.Errorf("Quantile(%v) = %v, want %v", c.q, got, c.want)
		}
	}
	for d, want := range map[time.Duration]int{0: 1000, 1: 999, 990: 10, 1000: 0} {
		if got := l.Over(d); got != want {
			t.Errorf("Over(%v) = %d, want %d", d, got, want)
		}
	}
	if got := LatenciesOf([]time.Duration{3, 1, 2}).Quantile(0.5); got != 2 {
		t.Errorf("LatenciesOf(3, 1, 2).Quantile(0.5) = %v, want 2", got)
	}
}
