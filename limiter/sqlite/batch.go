package sqlite

import (
	"context"
	"errors"
	"fmt"

	"github.com/sharedlimit/sharedlimit/internal/gcra"
	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/limiter/driver"
)

// maxChunk is the most keys one statement of a batch reads or writes (a
// UNION ALL of point lookups, a multi-row upsert of 4 arguments a row): a
// batch with more keys takes a statement per chunk.
const maxChunk = 64

// entry is one key of a batch: its row as the transaction read it, and as
// the batch's requests decided so far left it.
type entry struct {
	key    string
	disk   row
	onDisk bool
	cur    row
	has    bool
	dirty  bool // cur is to be written (has) or deleted (!has)
}

// rowCache holds the rows of one batch's keys inside its transaction: each
// key is read once, every request is decided on the rows in memory, in
// batch order, and each key the batch changed is written once.
type rowCache struct {
	idx     map[string]int
	entries []entry
	// Scratch of the statements and of the requests' decisions.
	keys           []string
	put            []int
	tats, at, next []int64
	toks           []int64
	needIdx        []int
}

// reset empties c for the next batch.
func (c *rowCache) reset() {
	clear(c.idx)
	clear(c.entries)
	c.entries = c.entries[:0]
}

// add makes key an entry of the batch.
func (c *rowCache) add(key string) {
	if c.idx == nil {
		c.idx = make(map[string]int)
	}
	if _, ok := c.idx[key]; !ok {
		c.idx[key] = len(c.entries)
		c.entries = append(c.entries, entry{key: key})
	}
}

// get is key's entry (added beforehand).
func (c *rowCache) get(key string) *entry { return &c.entries[c.idx[key]] }

// arity checks the one need of Hold, Status and Reset: an error of the
// request's own, or nil.
func arity(r *driver.Request) error {
	if r.Op >= driver.Hold && r.Op <= driver.Reset && len(r.Needs) != 1 {
		return fmt.Errorf("limiter: sqlite: %s takes one need, got %d: %w", r.Op, len(r.Needs), limiter.ErrInvalidArgument)
	}
	return nil
}

// undoOf is a Cancel's undo list, or the request's own error.
func undoOf(r *driver.Request) ([]undo, error) {
	u, ok := r.Undo.([]undo)
	if !ok {
		return nil, fmt.Errorf("limiter: sqlite: Cancel of a reservation this store did not grant (%T): %w", r.Undo, limiter.ErrInvalidArgument)
	}
	return u, nil
}

// decideBatch decides batch inside the write transaction at now: each
// distinct key read once, every request decided in memory in batch order
// exactly as alone, then each key it changed written once.
func (s *store) decideBatch(batch []driver.Request, answers []driver.Answer, now int64) error {
	c := &s.cache
	c.reset()
	for i := range batch {
		r := &batch[i]
		if arity(r) != nil {
			continue
		}
		if r.Op == driver.Cancel {
			u, _ := r.Undo.([]undo)
			for _, k := range u {
				c.add(k.key)
			}
			continue
		}
		for _, nd := range r.Needs {
			c.add(nd.Key)
		}
	}
	if err := s.load(); err != nil {
		return err
	}
	for i := range batch {
		r, a := &batch[i], &answers[i]
		*a = driver.Answer{Needs: a.Needs[:0]}
		if err := arity(r); err != nil {
			a.Err = err
			continue
		}
		switch r.Op {
		case driver.Allow, driver.Reserve:
			s.takeCached(r, a, now)
		case driver.Hold:
			nd := r.Needs[0]
			e := c.get(nd.Key)
			eff, newAt := rebase(e.cur.tat, e.cur.at, now)
			e.set(row{tat: gcra.Hold(eff, now, nd.T, nd.Tau, r.Hold), at: newAt, tok: newToken()})
		case driver.Status:
			nd := r.Needs[0]
			e := c.get(nd.Key)
			eff, _ := rebase(e.cur.tat, e.cur.at, now)
			a.Needs = append(a.Needs[:0], gcra.Status(eff, now, nd.T, nd.Tau))
		case driver.Reset:
			c.get(r.Needs[0].Key).unset()
		case driver.Cancel:
			u, err := undoOf(r)
			if err != nil {
				a.Err = err
				continue
			}
			for _, k := range u {
				if e := c.get(k.key); e.has && e.cur.tok == k.mine {
					if k.had {
						e.cur.tat, e.cur.tok = k.prev.tat, k.prev.tok
						e.dirty = true
					} else {
						e.unset()
					}
					a.OK = true
				}
			}
		default:
			a.Err = fmt.Errorf("limiter: sqlite: unknown operation %s: %w", r.Op, limiter.ErrInvalidArgument)
		}
	}
	return s.flush()
}

// set makes r the entry's row.
func (e *entry) set(r row) { e.cur, e.has, e.dirty = r, true, true }

// unset deletes the entry's row.
func (e *entry) unset() { e.cur, e.has, e.dirty = row{}, false, true }

// takeCached decides an Allow or a Reserve on the cached rows, rebased to
// the clock. Refused, nothing is taken, but a key whose clock went back
// stores its shift; granted, each key gets a token of its own.
func (s *store) takeCached(r *driver.Request, a *driver.Answer, now int64) {
	c := &s.cache
	n := len(r.Needs)
	ix := c.needIdx[:0]
	tats, at, next := c.tats[:0], c.at[:0], c.next[:0]
	for _, nd := range r.Needs {
		i := c.idx[nd.Key]
		e := &c.entries[i]
		t, na := rebase(e.cur.tat, e.cur.at, now)
		ix, tats, at, next = append(ix, i), append(tats, t), append(at, na), append(next, 0)
	}
	c.needIdx, c.tats, c.at, c.next = ix, tats, at, next
	maxWait := int64(0)
	if r.Op == driver.Reserve {
		maxWait = r.MaxWait
	}
	if !gcra.Take(tats, now, r.Needs, maxWait, a, next) {
		for j, i := range ix {
			if e := &c.entries[i]; tats[j] != e.cur.tat {
				// The clock went back: store the shift even when
				// nothing is taken, or the row's wait would stay
				// frozen until the clock caught up with the last
				// write.
				e.set(row{tat: tats[j], at: at[j], tok: newToken()})
			}
		}
		return
	}
	var u []undo
	if r.Op == driver.Reserve {
		// This handle's grants in the file's order (the connection
		// serialises them), for Close: gcra.Take's Order, a tat, is
		// not one across the keys of composites.
		s.grants++
		a.Order = s.grants
		u = make([]undo, n)
	}
	for j, i := range ix {
		e := &c.entries[i]
		tok := newToken()
		if u != nil {
			prev := e.cur
			prev.tat = tats[j]
			u[j] = undo{key: e.key, mine: tok, prev: prev, had: e.has}
		}
		e.set(row{tat: next[j], at: at[j], tok: tok})
	}
	if u != nil {
		a.Undo = u
	}
}

// load reads the rows of the cache's entries, maxChunk keys a statement.
func (s *store) load() error {
	c := &s.cache
	for from := 0; from < len(c.entries); from += maxChunk {
		part := c.entries[from:min(from+maxChunk, len(c.entries))]
		if len(part) == 1 {
			e := &part[0]
			r, ok, err := s.get(e.key)
			if err != nil {
				return err
			}
			e.disk, e.onDisk, e.cur, e.has = r, ok, r, ok
			continue
		}
		st, err := s.stmtN(&s.st.getN[len(part)], qGetN, len(part))
		if err != nil {
			return err
		}
		args := s.args[:0]
		for i := range part {
			args = append(args, part[i].key)
		}
		rs, err := st.QueryContext(context.Background(), args...)
		clear(args)
		s.args = args[:0]
		if err != nil {
			return err
		}
		for rs.Next() {
			var i int
			var r row
			if err := rs.Scan(&i, &r.tat, &r.at, &r.tok); err != nil {
				rs.Close()
				return err
			}
			if i >= 0 && i < len(part) {
				e := &part[i]
				e.disk, e.onDisk, e.cur, e.has = r, true, r, true
			}
		}
		if err := errors.Join(rs.Err(), rs.Close()); err != nil {
			return err
		}
	}
	return nil
}

// flush writes the rows the batch changed: the new rows in multi-row
// upserts of up to maxChunk, a deleted row by its own statement. A new row's
// token is never the one it was read with (the table's trigger would give a
// new one to an update of tat that keeps it): each grant, hold and shift
// writes a new token, and a Cancel gives back the token a reservation
// replaced, which a reservation of the same batch cannot be (its Cancel
// needs its answer).
func (s *store) flush() error {
	c := &s.cache
	put := c.put[:0]
	for i := range c.entries {
		e := &c.entries[i]
		switch {
		case !e.dirty:
		case e.has:
			put = append(put, i)
		case e.onDisk:
			if _, err := s.st.reset.ExecContext(context.Background(), e.key); err != nil {
				return err
			}
		}
	}
	c.put = put
	for from := 0; from < len(put); from += maxChunk {
		part := put[from:min(from+maxChunk, len(put))]
		if len(part) == 1 {
			e := &c.entries[part[0]]
			if err := s.put(e.key, e.cur.tat, e.cur.at, e.cur.tok); err != nil {
				return err
			}
			continue
		}
		st, err := s.stmtN(&s.st.putN[len(part)], qPutN, len(part))
		if err != nil {
			return err
		}
		args := s.args[:0]
		for _, i := range part {
			e := &c.entries[i]
			args = append(args, e.key, e.cur.tat, e.cur.at, e.cur.tok)
		}
		_, err = st.ExecContext(context.Background(), args...)
		clear(args)
		s.args = args[:0]
		if err != nil {
			return err
		}
		for _, i := range part {
			s.wrote(c.entries[i].key)
		}
	}
	return nil
}
