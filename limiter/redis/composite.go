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

// scriptKeys returns the Redis keys of a request of several needs, or an
// error when they cannot share one script: two of them one Redis key, or
// keys of different slots on a cluster (different tags on a ring).
func (s *store) scriptKeys(op driver.Op, needs []driver.Need) ([]string, error) {
	keys := make([]string, len(needs))
	for i, nd := range needs {
		keys[i] = s.key(nd.Key)
		for j := range i {
			if keys[j] == keys[i] {
				// The script would read the key twice and its second
				// write would drop the first need's charge.
				return nil, fmt.Errorf("limiter: redis %s: needs %d (%q) and %d (%q) of one request are one Redis key %s "+
					"(a key \"{k}\" is stored as the key \"k\" is when the prefix is empty): merge them into one need: %w",
					op, j, needs[j].Key, i, nd.Key, keys[i], limiter.ErrInvalidArgument)
			}
		}
	}
	if err := s.oneScript(op, needs, keys); err != nil {
		return nil, err
	}
	return keys, nil
}

// Check implements driver.Checker: a request of several needs whose keys
// cannot share one script is refused before any decision, also while the
// failure policy decides without Redis.
func (s *store) Check(r *driver.Request) error {
	if len(r.Needs) < 2 {
		return nil
	}
	_, err := s.scriptKeys(r.Op, r.Needs)
	return err
}

// composite decides an Allow or a Reserve of several needs: one round trip
// of compositeScript on all of the request's keys, or none when they cannot
// share one script (a.Err says why). Each key's floor applies as in
// reserveOne, and a granted Reserve raises each key's floor.
func (s *store) composite(ctx context.Context, r *driver.Request, a *driver.Answer) error {
	n := len(r.Needs)
	keys, err := s.scriptKeys(r.Op, r.Needs)
	if err != nil {
		a.Err = err
		return nil
	}
	reserve := r.Op == driver.Reserve
	args := make([]any, 1, 1+5*n)
	args[0] = "a"
	if reserve {
		args[0] = r.MaxWait
	}
	for i, nd := range r.Needs {
		floor := "0"
		if f, epoch := s.floors.get(keys[i]); f != 0 {
			floor = strconv.FormatInt(f, 10) + ":" + epoch
		}
		args = append(args, nd.T, nd.Tau, nd.N, newToken(), floor)
	}
	cctx, cancel := s.bound(ctx)
	defer cancel()
	v, err := compositeScript.Run(cctx, s.client, keys, args...).Slice()
	if err == nil {
		err = s.compositeReply(r, a, keys, v, reserve)
	}
	if err != nil {
		return s.wrap(r.Op.String(), keyList(keys), ctx, err)
	}
	return nil
}

// compositeReply reads compositeScript's reply v into a; a granted
// Reserve raises each key's floor.
func (s *store) compositeReply(r *driver.Request, a *driver.Answer, keys []string, v []any, reserve bool) error {
	n := len(keys)
	bad := func() error { return fmt.Errorf("unexpected script reply %v", v) }
	if len(v) < 3 {
		return bad()
	}
	ok, okInt := v[0].(int64)
	wait, waitInt := v[1].(int64)
	binding, bindingInt := v[2].(int64)
	granted := ok == 1
	per := 2 // per key: remaining, resetAfter[, had, stored, replaced]
	undo := granted && reserve
	if undo {
		per = 5
	}
	if !okInt || !waitInt || !bindingInt || len(v) != 3+per*n || binding < 0 || binding >= int64(n) {
		return bad()
	}
	var u []undoKey
	if undo {
		u = make([]undoKey, n)
	}
	a.Needs = a.Needs[:0]
	for i := range n {
		kv := v[3+per*i : 3+per*(i+1)]
		rem, ok1 := kv[0].(int64)
		reset, ok2 := kv[1].(int64)
		if !ok1 || !ok2 {
			return bad()
		}
		a.Needs = append(a.Needs, driver.NeedAnswer{Remaining: rem, ResetAfter: reset})
		if undo {
			had, ok3 := kv[2].(int64)
			mine, ok4 := kv[3].(string)
			replaced, ok5 := kv[4].(string)
			if !ok3 || !ok4 || !ok5 {
				return bad()
			}
			u[i] = undoKey{rkey: keys[i], mine: mine, replaced: replaced, had: had == 1}
		}
	}
	a.OK, a.Binding = granted, int(binding)
	if !granted {
		a.RetryAfter = wait
		return nil
	}
	a.Wait = wait
	if undo {
		for i, k := range u {
			s.floors.raise(k.rkey, k.mine, time.Duration(a.Needs[i].ResetAfter)*time.Microsecond)
		}
		a.Order = order(u[binding].mine, a.Needs[binding].ResetAfter)
		a.Undo = u
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
