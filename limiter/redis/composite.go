package redis

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/limiter/driver"
)

// composite decides an Allow or a Reserve of several needs: one round trip
// of compositeScript on all of the request's keys, or none when they cannot
// share one script (a.Err says why). Each key's floor applies as in
// reserveOne, and a granted Reserve raises each key's floor.
func (s *store) composite(ctx context.Context, r *driver.Request, a *driver.Answer) error {
	n := len(r.Needs)
	keys := make([]string, n)
	for i, nd := range r.Needs {
		keys[i] = s.key(nd.Key)
	}
	if err := s.oneScript(r.Op, r.Needs, keys); err != nil {
		a.Err = err
		return nil
	}
	reserve := r.Op == driver.Reserve
	args := make([]any, 2, 2+6*n)
	args[0], args[1] = int64(0), "0"
	if reserve {
		args[0], args[1] = r.MaxWait, "1"
	}
	for i, nd := range r.Needs {
		floor, floorEpoch := s.floors.get(keys[i])
		args = append(args, nd.T, nd.Tau, nd.N, floor, floorEpoch, newToken())
	}
	cctx, cancel := s.bound(ctx)
	defer cancel()
	op := r.Op.String()
	v, err := compositeScript.Run(cctx, s.client, keys, args...).Slice()
	if err != nil {
		return s.wrap(op, keyList(keys), ctx, err)
	}
	head, _, err := reply(v, 3, 0)
	if err != nil {
		return s.wrap(op, keyList(keys), ctx, err)
	}
	granted := head[0] == 1
	per, strs := 2, 0 // per key: remaining, resetAfter[, had, stored, replaced]
	if granted && reserve {
		per, strs = 5, 2
	}
	if len(v) != 3+per*n || head[2] < 0 || head[2] >= int64(n) {
		return s.wrap(op, keyList(keys), ctx, fmt.Errorf("unexpected script reply %v", v))
	}
	var undo []undoKey
	if granted && reserve {
		undo = make([]undoKey, n)
	}
	a.Needs = a.Needs[:0]
	for i := range n {
		ints, ss, err := reply(v[3+per*i:], per-strs, strs)
		if err != nil {
			return s.wrap(op, keyList(keys), ctx, err)
		}
		a.Needs = append(a.Needs, driver.NeedAnswer{Remaining: ints[0], ResetAfter: ints[1]})
		if undo != nil {
			undo[i] = undoKey{rkey: keys[i], mine: ss[0], replaced: ss[1], had: ints[2] == 1, back: r.Needs[i].N * r.Needs[i].T}
		}
	}
	a.OK, a.Binding = granted, int(head[2])
	if !granted {
		a.RetryAfter = head[1]
		return nil
	}
	a.Wait = head[1]
	if undo != nil {
		delay := time.Duration(a.Wait) * time.Microsecond
		for _, k := range undo {
			s.floors.raise(k.rkey, k.mine, delay)
		}
		a.Order, _, _ = parseValue(undo[a.Binding].mine)
		a.Undo = undo
	}
	return nil
}

// oneScript reports an error when the Redis keys of one request cannot be
// given to one script on the client: on a Redis Cluster, keys in different
// hash slots (Redis would refuse them with CROSSSLOT); on a Ring of several
// shards, keys of different hash tags (the Ring would run the script on
// the first key's shard, on copies of the other keys that nobody else
// sees; keys of one tag are on one shard whatever shards are up). On a
// single node any keys work. The error names the keys and says how to tag
// them; it matches limiter.ErrInvalidArgument.
func (s *store) oneScript(op driver.Op, needs []driver.Need, keys []string) error {
	switch {
	case s.cluster != nil:
		first := slot(keys[0])
		for _, k := range keys[1:] {
			if slot(k) != first {
				return crossError(op, needs, keys, "in one hash slot of the cluster", func(k string) string {
					return "slot " + strconv.Itoa(slot(k))
				})
			}
		}
	case s.ring != nil && (s.ringShards > 1 || s.ring.Len() > 1):
		first, _ := hashTag(keys[0])
		for _, k := range keys[1:] {
			if tag, _ := hashTag(k); tag != first {
				return crossError(op, needs, keys, "of one hash tag on a ring of several shards", func(k string) string {
					tag, _ := hashTag(k)
					return "hashed on " + strconv.Quote(tag)
				})
			}
		}
	}
	return nil
}

// crossError is the error of a request whose keys cannot share a script.
func crossError(op driver.Op, needs []driver.Need, keys []string, want string, where func(string) string) error {
	var b strings.Builder
	for i, nd := range needs {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q (%s, %s)", nd.Key, keys[i], where(keys[i]))
	}
	return fmt.Errorf("limiter: redis %s: the keys of one request must be %s, and its keys %s are not: "+
		"give them one hash tag, such as \"{account:42}:requests\" and \"{account:42}:weight\" (see redis.Key): %w",
		op, want, b.String(), limiter.ErrInvalidArgument)
}
