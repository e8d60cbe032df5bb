package redis

import (
	"context"
	"errors"
	"fmt"

	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/sharedlimit/sharedlimit/internal/gcra"
	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/limiter/driver"
)

// The operation codes of batchScript.
const (
	bAllow   = "1"
	bReserve = "2"
	bHold    = "3"
	bStatus  = "4"
	bReset   = "5"
	bCancel  = "6"
)

// errWrongType is Redis's error for a key of another type, as batchScript
// reports it for one request.
var errWrongType = errors.New("WRONGTYPE Operation against a key holding the wrong kind of value")

// DoBatch implements coalesce.Batcher: the batch in one call of batchScript
// on a single node; on a cluster (a ring of several shards), one call per
// hash slot (hash tag), all in one pipeline. A request whose keys cannot
// share one script gets its own Answer.Err, as in Do.
func (s *store) DoBatch(ctx context.Context, batch []driver.Request, answers []driver.Answer) error {
	if s.closed.Load() {
		return fmt.Errorf("limiter: redis: %w", limiter.ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	groups := s.group(batch, answers)
	if len(groups) == 0 {
		return nil
	}
	cctx, cancel := s.bound(ctx)
	defer cancel()
	if len(groups) == 1 {
		g := groups[0]
		v, err := batchScript.Run(cctx, s.client, g.keys, g.args()...).Slice()
		if err == nil {
			err = s.answer(g, batch, answers, v)
		}
		if err != nil {
			return s.wrap("batch", keyList(g.keys), ctx, err)
		}
		return nil
	}
	cmds := make([]*goredis.Cmd, len(groups))
	pipe := s.client.Pipeline()
	for i, g := range groups {
		cmds[i] = batchScript.EvalSha(cctx, pipe, g.keys, g.args()...)
	}
	_, _ = pipe.Exec(cctx)
	// go-redis loads a script on NOSCRIPT only outside pipelines: a node
	// whose script cache is empty (restarted, flushed, a new primary)
	// gets the script's text.
	var again []int
	for i, c := range cmds {
		if goredis.HasErrorPrefix(c.Err(), "NOSCRIPT") {
			again = append(again, i)
		}
	}
	if len(again) > 0 {
		pipe = s.client.Pipeline()
		for _, i := range again {
			cmds[i] = batchScript.Eval(cctx, pipe, groups[i].keys, groups[i].args()...)
		}
		_, _ = pipe.Exec(cctx)
	}
	failed := 0
	var first error
	for i, g := range groups {
		v, err := cmds[i].Slice()
		if err == nil {
			err = s.answer(g, batch, answers, v)
		}
		if err != nil {
			err = s.wrap("batch", keyList(g.keys), ctx, err)
			failed++
			if first == nil {
				first = err
			}
			for _, r := range g.reqs {
				answers[r] = driver.Answer{Needs: answers[r].Needs[:0], Err: err}
			}
		}
	}
	if failed == len(groups) {
		return first
	}
	return nil
}

// batchGroup is the part of a batch that one script call decides: its
// requests (indexes into the batch), keys and limits, and the packed
// argument.
type batchGroup struct {
	tag     string // the slot or hash tag shared by its keys
	reqs    []int
	keys    []string
	keyIdx  map[string]int // 1-based index into keys
	limits  [][2]int64
	packed  []byte
	strs    []any // ARGV[3...]: the values of cancels
	base    string
	keysFor [][]string             // per request in reqs: its Redis keys, in need order
	cancels map[string]cancelSlots // by key: the slots its cancels give back
}

// args is the argument list of the group's script call: the batch is a
// JSON array (see batchScript).
func (g *batchGroup) args() []any {
	head := make([]byte, 0, 16+len(g.packed))
	head = append(head, '[')
	head = strconv.AppendInt(head, int64(len(g.keys)), 10)
	head = append(head, ',')
	head = strconv.AppendInt(head, int64(len(g.limits)), 10)
	head = append(head, ',')
	head = strconv.AppendInt(head, int64(len(g.reqs)), 10)
	out := make([]any, 0, 2+len(g.strs))
	head = append(append(head, g.packed...), ']')
	out = append(out, g.base, string(head))
	return append(out, g.strs...)
}

// key adds rkey to the group (once) and returns its 1-based index.
func (g *batchGroup) key(rkey string) int {
	if i, ok := g.keyIdx[rkey]; ok {
		return i
	}
	g.keys = append(g.keys, rkey)
	i := len(g.keys)
	g.keyIdx[rkey] = i
	return i
}

// floors returns the packed floors of the group's keys: per key, the
// handle's floor of its slots but those the group's cancels give back,
// its epoch, and the slots of those cancels (see batchScript).
func (g *batchGroup) floors(s *store) []byte {
	var b []byte
	num := func(x int64) {
		b = append(b, ',')
		b = strconv.AppendInt(b, x, 10)
	}
	for _, rkey := range g.keys {
		c := g.cancels[rkey]
		rest, epoch, pending := s.floors.getExcept(rkey, c.tats, c.epochs)
		e, _ := strconv.ParseInt(epoch, 10, 64)
		if rest == 0 && len(pending) == 0 {
			e = 0
		}
		num(rest)
		num(e)
		num(int64(len(pending)))
		for _, tat := range pending {
			num(tat)
		}
	}
	return b
}

// cancelSlots are the slots (tats and epochs) that a group's cancels give
// back on one key.
type cancelSlots struct {
	tats   []int64
	epochs []string
}

// limit adds the limit (T, tau) to the group (once) and returns its
// 1-based index.
func (g *batchGroup) limit(t, tau int64) int {
	for i, l := range g.limits {
		if l[0] == t && l[1] == tau {
			return i + 1
		}
	}
	g.limits = append(g.limits, [2]int64{t, tau})
	return len(g.limits)
}

// group sorts the batch into the groups of one script call each, and packs
// them; a request that cannot go gets its Answer.Err.
func (s *store) group(batch []driver.Request, answers []driver.Answer) []*batchGroup {
	var groups []*batchGroup
	for i := range batch {
		r := &batch[i]
		answers[i] = driver.Answer{Needs: answers[i].Needs[:0]}
		rkeys, err := s.requestKeys(r)
		if err != nil {
			answers[i].Err = err
			continue
		}
		tag := s.groupTag(rkeys[0])
		var g *batchGroup
		for _, x := range groups {
			if x.tag == tag {
				g = x
				break
			}
		}
		if g == nil {
			g = &batchGroup{tag: tag, keyIdx: map[string]int{}, base: newBase()}
			groups = append(groups, g)
		}
		g.reqs = append(g.reqs, i)
		g.keysFor = append(g.keysFor, rkeys)
		s.pack(g, r, rkeys)
	}
	for _, g := range groups {
		// nkeys nlimits nrequests, the keys' floors, the limits, the
		// requests.
		var lim []byte
		for _, l := range g.limits {
			lim = append(lim, ',')
			lim = strconv.AppendInt(lim, l[0], 10)
			lim = append(lim, ',')
			lim = strconv.AppendInt(lim, l[1], 10)
		}
		g.packed = append(append(g.floors(s), lim...), g.packed...)
	}
	return groups
}

// pack appends request r, whose Redis keys are rkeys, to g.
func (s *store) pack(g *batchGroup, r *driver.Request, rkeys []string) {
	b := g.packed
	num := func(x int64) {
		b = append(b, ',')
		b = strconv.AppendInt(b, x, 10)
	}
	op := func(code string) {
		b = append(b, ',')
		b = append(b, code...)
	}
	// need writes a need's key and limit, as the group's indexes.
	need := func(rkey string, nd driver.Need) {
		num(int64(g.key(rkey)))
		num(int64(g.limit(nd.T, nd.Tau)))
	}
	switch r.Op {
	case driver.Allow, driver.Reserve:
		if r.Op == driver.Allow {
			op(bAllow)
		} else {
			op(bReserve)
			num(r.MaxWait)
		}
		num(int64(len(r.Needs)))
		for j, nd := range r.Needs {
			need(rkeys[j], nd)
			num(nd.N)
		}
	case driver.Hold:
		op(bHold)
		need(rkeys[0], r.Needs[0])
		num(r.Hold)
	case driver.Status:
		op(bStatus)
		need(rkeys[0], r.Needs[0])
	case driver.Reset:
		op(bReset)
		num(int64(g.key(rkeys[0])))
		e, _ := strconv.ParseInt(newEpoch(), 10, 64)
		num(e)
	case driver.Cancel:
		u := r.Undo.([]undoKey) // checked by requestKeys
		op(bCancel)
		num(int64(len(u)))
		for _, k := range u {
			if tat, epoch, ok := parseValue(k.mine); ok {
				if g.cancels == nil {
					g.cancels = map[string]cancelSlots{}
				}
				c := g.cancels[k.rkey]
				c.tats, c.epochs = append(c.tats, tat), append(c.epochs, epoch)
				g.cancels[k.rkey] = c
			}
			num(int64(g.key(k.rkey)))
			num(boolInt(k.had))
			num(int64(3 + len(g.strs)))
			g.strs = append(g.strs, k.mine, k.replaced)
		}
	}
	g.packed = b
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// newBase returns a batch's token base: 12 random digits, to which
// batchScript adds each request's index.
func newBase() string { return newToken()[:12] }

// requestKeys returns the Redis keys of r in need order (a Cancel's, in
// its undo's order), or the request's own error: keys that cannot share
// one script, an undo of another store.
func (s *store) requestKeys(r *driver.Request) ([]string, error) {
	switch r.Op {
	case driver.Allow, driver.Reserve:
		if len(r.Needs) > 1 {
			return s.scriptKeys(r.Op, r.Needs)
		}
		return []string{s.key(r.Needs[0].Key)}, nil
	case driver.Hold, driver.Status, driver.Reset:
		return []string{s.key(r.Needs[0].Key)}, nil
	case driver.Cancel:
		u, ok := r.Undo.([]undoKey)
		if !ok || len(u) == 0 {
			return nil, fmt.Errorf("limiter: redis Cancel: not a reservation of this store (%T): %w", r.Undo, limiter.ErrInvalidArgument)
		}
		keys := make([]string, len(u))
		for i, k := range u {
			keys[i] = k.rkey
		}
		return keys, nil
	}
	return nil, fmt.Errorf("limiter: redis: unknown operation %s: %w", r.Op, limiter.ErrInvalidArgument)
}

// groupTag is what the keys of one script call share: their hash slot on
// a cluster, their hash tag on a ring of several shards, nothing on a
// single node.
func (s *store) groupTag(rkey string) string {
	switch {
	case s.cluster != nil:
		return strconv.Itoa(slot(rkey))
	case s.ring != nil && (s.ringShards > 1 || s.ring.Len() > 1):
		tag, _ := hashTag(rkey)
		return tag
	}
	return ""
}

// answer reads batchScript's reply v for group g into the answers of its
// requests, and updates the handle's floors as the single scripts' callers
// do: a granted Reserve raises its keys', a cancel lowers them, a Reset
// forgets the key's.
func (s *store) answer(g *batchGroup, batch []driver.Request, answers []driver.Answer, v []any) error {
	sc := replyReader{v: v}
	for gi, i := range g.reqs {
		r, a, rkeys := &batch[i], &answers[i], g.keysFor[gi]
		if sc.wrongType() {
			k := sc.int()
			if sc.err == nil && (k < 0 || k >= int64(len(g.keys))) {
				sc.err = fmt.Errorf("key index %d out of range", k)
			}
			if sc.err != nil {
				break
			}
			a.Err = &WrongTypeError{Op: r.Op.String(), Key: g.keys[k], Err: errWrongType}
			continue
		}
		switch r.Op {
		case driver.Allow, driver.Reserve:
			s.answerTake(&sc, r, a, rkeys)
		case driver.Hold:
			sc.int()
		case driver.Reset:
			if sc.int() == 1 {
				s.floors.forget(rkeys[0])
			}
		case driver.Status:
			nd := r.Needs[0]
			// The key's fullAfter is its tat against a clock at 0.
			a.Needs = append(a.Needs[:0], gcra.Status(sc.int(), 0, nd.T, nd.Tau))
		case driver.Cancel:
			for _, k := range r.Undo.([]undoKey) {
				if sc.int() == 1 {
					s.floors.lower(k)
					a.OK = true
				}
			}
		}
		if sc.err != nil {
			break
		}
	}
	if sc.err == nil && sc.i != len(v) {
		sc.err = fmt.Errorf("%d values, read %d", len(v), sc.i)
	}
	if sc.err != nil {
		return fmt.Errorf("unexpected batch script reply (%.200v): %w", v, sc.err)
	}
	return nil
}

// remaining is the tokens of nd's limit left when its key is ahead of now
// by ahead (gcra.Remaining, against a clock at 0).
func remaining(nd driver.Need, ahead int64) int64 { return gcra.Remaining(ahead, 0, nd.T, nd.Tau) }

// answerTake reads the answer of an Allow or a Reserve.
func (s *store) answerTake(sc *replyReader, r *driver.Request, a *driver.Answer, rkeys []string) {
	n := len(r.Needs)
	a.Needs = a.Needs[:0]
	if n == 1 {
		nd := r.Needs[0]
		x := sc.int()
		if sc.err != nil {
			return
		}
		if x < 0 { // refused: x = -resetAfter - 1
			reset := -x - 1
			a.Needs = append(a.Needs, driver.NeedAnswer{Remaining: remaining(nd, reset), ResetAfter: reset})
			a.RetryAfter = reset + nd.N*nd.T - nd.Tau
			return
		}
		a.Needs = append(a.Needs, driver.NeedAnswer{Remaining: remaining(nd, x), ResetAfter: x})
		a.OK, a.Wait = true, max(0, x-nd.Tau)
	} else {
		ok, wait, binding := sc.int(), sc.int(), sc.int()
		if sc.err == nil && (binding < 0 || binding >= int64(n)) {
			sc.err = fmt.Errorf("binding %d of %d needs", binding, n)
		}
		for _, nd := range r.Needs {
			reset := sc.int()
			a.Needs = append(a.Needs, driver.NeedAnswer{Remaining: remaining(nd, reset), ResetAfter: reset})
		}
		if sc.err != nil {
			return
		}
		a.Binding = int(binding)
		if ok != 1 {
			a.RetryAfter = wait
			return
		}
		a.OK, a.Wait = true, wait
	}
	if r.Op != driver.Reserve {
		return
	}
	u := make([]undoKey, n)
	for j := range n {
		had := sc.int()
		mine, replaced := sc.str(), sc.str()
		u[j] = undoKey{rkey: rkeys[j], mine: mine, replaced: replaced, had: had == 1}
	}
	if sc.err != nil {
		return
	}
	for j, k := range u {
		s.floors.raise(k.rkey, k.mine, time.Duration(a.Needs[j].ResetAfter)*time.Microsecond)
	}
	if n == 1 {
		a.Order, _, _ = parseValue(u[0].mine) // the key's queue order
	} else {
		a.Order = order(u[a.Binding].mine, a.Needs[a.Binding].ResetAfter)
	}
	a.Undo = u
}

// replyReader reads batchScript's reply, a flat array of integers and
// strings. The first error sticks.
type replyReader struct {
	v   []any
	i   int
	err error
}

// wrongType reads the mark of a request whose key holds another type.
func (c *replyReader) wrongType() bool {
	if c.err != nil || c.i >= len(c.v) {
		return false
	}
	if s, ok := c.v[c.i].(string); ok && s == "E" {
		c.i++
		return true
	}
	return false
}

func (c *replyReader) next() any {
	if c.err != nil {
		return nil
	}
	if c.i >= len(c.v) {
		c.err = fmt.Errorf("reply ends at %d", c.i)
		return nil
	}
	c.i++
	return c.v[c.i-1]
}

func (c *replyReader) int() int64 {
	x := c.next()
	n, ok := x.(int64)
	if !ok && c.err == nil {
		c.err = fmt.Errorf("value %d is %T, not an integer", c.i-1, x)
	}
	return n
}

func (c *replyReader) str() string {
	x := c.next()
	s, ok := x.(string)
	if !ok && c.err == nil {
		c.err = fmt.Errorf("value %d is %T, not a string", c.i-1, x)
	}
	return s
}

// batchesInFlight is how many batches of one handle may be in flight at
// once, each on a connection of its own; batches in flight share no key
// (internal/coalesce), so FIFO holds on every key.
const batchesInFlight = 4
