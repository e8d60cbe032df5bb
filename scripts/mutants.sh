#!/usr/bin/env bash
# Mutation check: each mutant below breaks the limiter in one precise way
# (a limit 1 % too fast, one extra token of Burst, a slot granted one
# interval early, a cancel that ignores its compare-and-set, a Hold that
# does not hold, a retry that skips the limiter). For each, this script
# applies it to a copy of the tree in a temporary folder and runs the tests
# that must catch it, twice: the mutant is caught only when BOTH runs fail.
# It exits non-zero when any mutant survives, when a mutant's target text
# is not found exactly once (the code moved: re-target the entry), or when
# a mutant does not compile (a broken mutant proves nothing).
#
#   bash scripts/mutants.sh              # every mutant
#   bash scripts/mutants.sh hold cancel  # the mutants whose name contains a word
#   MUTANTS_SLOW=1 bash scripts/mutants.sh   # also the slow entries (process fleets)
#
# Entries: mutant NAME FILE OLD NEW PACKAGE RUN [PACKAGE RUN]..., where
# OLD is replaced by NEW (plain text, not a pattern; it must occur exactly
# once in FILE) and the mutant is tested, for each PACKAGE RUN pair, with
# the package's test binary (`go test -c`) run twice as `go test -count=1
# -run RUN PACKAGE` would run it (no -race: speed): it is caught when every
# pair fails twice. Keep each RUN to the fastest tests that catch it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/sharedlimit-mutants.XXXXXX")
trap 'rm -rf "$work"' EXIT
# The working tree as it is (tracked and untracked files, not ignored ones).
(cd "$root" && git ls-files -z --cached --others --exclude-standard |
  while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
  xargs -0 cp --parents -t "$work")
cd "$work"

filters=("$@")
failed=()
count=0
t0=$(date +%s)

# substitute FILE: replaces $MUT_OLD by $MUT_NEW in FILE, failing unless
# the old text occurs exactly once.
substitute() {
  perl -e '
    my ($file) = @ARGV;
    my ($old, $new, $name) = @ENV{qw(MUT_OLD MUT_NEW MUT_NAME)};
    open(my $in, "<", $file) or die "mutant $name: cannot read $file: $!\n";
    local $/; my $s = <$in>; close $in;
    my ($n, $p) = (0, 0);
    while (($p = index($s, $old, $p)) >= 0) { $n++; $p += length $old; }
    die "mutant $name: the target text occurs $n times in $file, want exactly 1 (re-target this entry):\n---\n$old\n---\n" if $n != 1;
    substr($s, index($s, $old), length $old) = $new;
    open(my $out, ">", $file) or die "mutant $name: cannot write $file: $!\n";
    print $out $s; close $out;
  ' "$1"
}

# mutant NAME FILE OLD NEW PACKAGE RUN [PACKAGE RUN]...
mutant() {
  local name=$1 file=$2 old=$3 new=$4
  shift 4
  if [ ${#filters[@]} -gt 0 ]; then
    local hit=0 f
    for f in "${filters[@]}"; do [[ $name == *"$f"* ]] && hit=1; done
    [ $hit = 1 ] || return 0
  fi
  count=$((count + 1))
  local start
  start=$(date +%s)
  cp "$file" "$file.orig"
  if ! MUT_OLD=$old MUT_NEW=$new MUT_NAME=$name substitute "$file"; then
    mv "$file.orig" "$file"
    failed+=("$name (target not found)")
    return 0
  fi
  local caught=0 runs=0 i pkg run bin="$work/mutant.test"
  while [ $# -ge 2 ]; do
    pkg=$1 run=$2
    shift 2
    # One build, two runs of the binary in the package's folder (as go
    # test runs it): a mutant that does not build would be "caught" by
    # every test.
    if ! out=$(go test -c -o "$bin" "$pkg" 2>&1); then
      echo "MUTANT BROKEN $name: does not compile:"; echo "$out" | tail -20
      mv "$file.orig" "$file"
      failed+=("$name (does not compile)")
      return 0
    fi
    for i in 1 2; do
      runs=$((runs + 1))
      if out=$(cd "$pkg" && "$bin" -test.count=1 -test.failfast -test.timeout=150s -test.run "$run" 2>&1); then
        echo "MUTANT SURVIVED $name: run $i of go test -run '$run' $pkg passed"
      else
        caught=$((caught + 1))
        echo "   caught $name (run $i of -run '$run' $pkg): $(echo "$out" | grep -m1 -E '^\s+[a-z_]+\.go:[0-9]+:|panic:' | sed 's/^[[:space:]]*//' | cut -c1-150)"
      fi
    done
  done
  rm -f "$bin"
  mv "$file.orig" "$file"
  if [ $caught = $runs ]; then
    echo "ok $name: caught twice by each of its tests ($(($(date +%s) - start)) s)"
  else
    failed+=("$name")
  fi
}

# ---------------------------------------------------------------------------
# The mutants. One entry each: name, file, old text, new text, package, -run.

# The emission interval 1 % short: every backend 1 % too fast. With
# MUTANTS_SLOW=1 the process fleets (SQLite and Redis) must see it too,
# not only the conformance suite.
fleets=()
if [ "${MUTANTS_SLOW:-}" = 1 ]; then
  fleets=(./integration/ '^TestFleet$/^sqlite$' ./integration/ '^TestFleet$/^redis$')
fi
mutant interval-short limiter/core.go \
  'return driver.Need{Key: key, N: int64(n), T: t, Tau: t * int64(limit.Burst)}' \
  'return driver.Need{Key: key, N: int64(n), T: t * 99 / 100, Tau: t * 99 / 100 * int64(limit.Burst)}' \
  ./limiter/memory/ '^TestConformance$' "${fleets[@]}"

# One extra token of Burst, in the formulas every backend's scripts and
# statements get (tau = Burst*T).
mutant burst-extra limiter/core.go \
  'T: t, Tau: t * int64(limit.Burst)}' \
  'T: t, Tau: t * int64(limit.Burst+1)}' \
  ./limiter/memory/ '^TestConformance$'

# One extra token of Burst on redis_rate's AllowN path: an AllowN one
# interval early.
mutant redis-allow-burst-extra limiter/redis/store.go \
  'Burst: int(nd.Tau / nd.T)}' \
  'Burst: int(nd.Tau/nd.T) + 1}' \
  ./limiter/redis/ '^TestConformanceMiniredis$'

# A reservation granted one interval early (Go: memory and SQLite).
mutant reserve-early-go internal/gcra/gcra.go \
  'if si := tats[i] + nd.N*nd.T - nd.Tau; si > s {' \
  'if si := tats[i] + nd.N*nd.T - nd.Tau - nd.T; si > s {' \
  ./limiter/memory/ '^TestConformance$'

# An AllowN of one need admitted one interval early, on the path that
# skips the batch (memory's driver.OneAllower).
mutant allow-one-early-go internal/gcra/gcra.go \
  's := max(now, tat+nd.N*nd.T-nd.Tau)' \
  's := max(now, tat+nd.N*nd.T-nd.Tau-nd.T)' \
  ./limiter/memory/ '^TestConformance$'

# A request of several needs charging its other keys from their own
# earliest slots instead of the request's slot s: two requests then share
# an instant on those keys (an over-admission the mixed load sees).
mutant composite-charge-early-go internal/gcra/gcra.go \
  't := max(tats[i], s) + nd.N*nd.T' \
  't := max(tats[i], now) + nd.N*nd.T' \
  ./limiter/memory/ '^TestConformance$'

# The same in Redis's reserve script, against miniredis (moved clock) and
# against a real Redis, on the real clock: only the real-clock concurrent
# check (AllowN and ReserveN without waiting, stamped within each call's
# round trip) can see it there.
mutant reserve-early-lua limiter/redis/scripts.go \
  'local wait = math.max(0, new - now - tau)' \
  'local wait = math.max(0, new - now - tau - T)' \
  ./limiter/redis/ '^TestConformanceMiniredis$' \
  ./limiter/redis/ '^TestConformanceRealRedis$/^Concurrent$'

# A cancel that ignores its compare-and-set (Go: memory): it restores the
# value it replaced even when another write came after it.
mutant cancel-no-cas-go internal/memstore/memstore.go \
  'if i, ok := s.pos.find(k.key, &s.slots); ok && s.slots.at(i).entry == k.mine {' \
  'if i, ok := s.pos.find(k.key, &s.slots); ok {' \
  ./limiter/memory/ '^TestConformance$'

# The same in SQLite's statement (the token compared).
mutant cancel-no-cas-sqlite limiter/sqlite/schema.go \
  'SET tat = ?2, tok = ?3 WHERE key = ?1 AND tok = ?4"' \
  'SET tat = ?2, tok = ?3 WHERE key = ?1 AND ?4 = ?4"' \
  ./limiter/sqlite/ '^TestConformance$'

# A refused composite on SQLite that charges its keys anyway (a partial
# request): every key is written as if it had been taken alone.
# Two batches in flight sharing a key (FIFO on the key lost): the random
# interleavings of the coalescer must see it.
mutant coalesce-inflight-shared-key internal/coalesce/coalesce.go \
  'if s.busy[nd.Key] > 0 || s.blocked[nd.Key] {' \
  'if s.blocked[nd.Key] {' \
  ./internal/coalesce/ '^TestInFlightRandom$'

# A batch's lone need admitted one token early (batchScript's fast path):
# the batched conformance suite and model must see it.
mutant batch-lone-need-early-lua limiter/redis/batch_script.go \
  'local wait = new - now - Ltau[l]' \
  'local wait = new - now - Ltau[l] - LT[l]' \
  ./limiter/redis/ '^TestConformanceMiniredisBatched$'

mutant composite-partial-sqlite limiter/sqlite/batch.go \
  'if e := &c.entries[i]; tats[j] != e.cur.tat {' \
  'if e := &c.entries[i]; true { tats[j] = max(tats[j], now) + r.Needs[j].N*r.Needs[j].T' \
  ./limiter/sqlite/ '^TestComposite'

# A composite on SQLite committed key by key, not in one transaction:
# another handle sees the first key's new value before the second's.
mutant composite-split-sqlite limiter/sqlite/tx.go \
  'if s.afterPut != nil {' \
  'if _, err := s.st.commit.ExecContext(context.Background()); err == nil {
		_, _ = s.st.begin.ExecContext(context.Background())
	}
	if s.afterPut != nil {' \
  ./limiter/sqlite/ '^TestComposite'

# The same in Redis's cancel script.
mutant cancel-no-cas-lua limiter/redis/scripts.go \
  'if redis.call("GET", key) ~= ARGV[1] then' \
  'if false then' \
  ./limiter/redis/ '^TestConformanceMiniredis$'

# Redis's composite script (requests of several needs) deciding on its
# first key only: the other needs' limits are ignored (over-admission),
# seen on a real Redis by the mixed load's windows too.
mutant composite-first-key-only-lua limiter/redis/scripts.go \
  'if si > s then' \
  'if si > s and i == 1 then' \
  ./limiter/redis/ '^TestComposite(AllOrNothing|SharesWithRedisRate)$' \
  ./limiter/redis/ '^TestCompositeLoadRealRedis$'

# The binding need the last on a tie, not the first.
mutant composite-binding-tie-lua limiter/redis/scripts.go \
  'if si > s then' \
  'if si >= s then' \
  ./limiter/redis/ '^TestCompositeAllOrNothing$'

# A granted composite request that writes its first key only.
mutant composite-one-key-unwritten-lua limiter/redis/scripts.go \
  'redis.call("SET", KEYS[i], v, "EX", expiry(new))' \
  'if i == 1 then redis.call("SET", KEYS[i], v, "EX", expiry(new)) end' \
  ./limiter/redis/ '^TestComposite(AllOrNothing|ReserveFromSlot)$'

# A composite cancel that ignores its compare-and-set on each key.
mutant composite-cancel-no-cas-lua limiter/redis/scripts.go \
  'if redis.call("GET", KEYS[i]) == ARGV[a + 1] then' \
  'if true then' \
  ./limiter/redis/ '^TestCompositeCancelRestoresUntouched$'

# A composite request that ignores the handle's floors: after a loss of
# Redis's data it hands the queued slots out again.
mutant composite-no-floor-lua limiter/redis/scripts.go \
  'local b = math.max(tat, now, floor)' \
  'local b = math.max(tat, now)' \
  ./limiter/redis/ '^TestCompositeFloors$'

# No slot check on a cluster client: keys of two slots reach Redis (and
# its CROSSSLOT, or a connection error), not the error saying how to tag.
mutant redis-cross-slot-unchecked limiter/redis/composite.go \
  'case s.cluster != nil:' \
  'case s.cluster != nil && false:' \
  ./limiter/redis/ '^TestCrossSlotBeforeRoundTrip$'

# A Hold that does not hold (Go: memory and SQLite).
mutant hold-no-hold-go internal/gcra/gcra.go \
  'held := now + d + tau - t' \
  'held := tat + 1' \
  ./limiter/memory/ '^TestConformance$'

# The same in Redis's hold script.
mutant hold-no-hold-lua limiter/redis/scripts.go \
  'local held = now + d + tau - T' \
  'local held = tat + 1' \
  ./limiter/redis/ '^TestConformanceMiniredis$'

# A retry that skips the limiter: retries go straight to the network.
mutant retry-skips-limiter retrypolicy/transport.go \
  'resp, err := a.next.RoundTrip(r)' \
  'next := a.next
	if n > 1 {
		next = http.DefaultTransport
	}
	resp, err := next.RoundTrip(r)' \
  ./lighter/ '^TestEveryAttemptPaysItsToken$'

# The Session's transports in the wrong order: the retry transport sends
# to the network, never through the limiter.
mutant session-retry-outside-limiter lighter/session.go \
  'retrypolicy.NewTransport(limited, retrypolicy.Config{' \
  'retrypolicy.NewTransport(func() http.RoundTripper { _ = limited; return base }(), retrypolicy.Config{' \
  ./lighter/ '^TestEveryAttemptPaysItsToken$'

# The memory sweep forgets keys 1 µs ahead of now: a slot or a Hold lost,
# its key admitted again.
mutant memory-sweep-early internal/memstore/memstore.go \
  'gcra.Idle(s.slots.at(s.next).tat, now)' \
  'gcra.Idle(s.slots.at(s.next).tat, now+1)' \
  ./internal/memstore/ '^TestSweepDifferential$'

# The memory index looks for a key in the old table only when its home is
# after the cursor of the copy, not at it: a key still there is not found,
# and comes back as a new key with a full burst.
mutant memory-index-skips-old internal/memstore/index.go \
  'return (x.old.home(tg)-x.from)&m >= (x.at-x.from)&m' \
  'return (x.old.home(tg)-x.from)&m > (x.at-x.from)&m' \
  ./internal/memstore/ '^TestIndexDifferential$'

# A key moved behind the sweep while it evacuates is not copied out: its
# chunk is freed at the end of the pass, under it.
mutant memory-evacuate-behind internal/memstore/memstore.go \
  'if i < s.next {
			s.slots.evacuate(i)' \
  'if i < s.next {
			_ = i' \
  ./internal/memstore/ '^TestRemoveBehindSweepEvacuates$'

# The memory arena evacuates only past four chunks of 64 KiB over twice
# the live bytes: a small State churning keys keeps a quarter of a MiB of
# removed keys.
mutant memory-arena-slack internal/memstore/keys.go \
  'if a.size > 2*a.live+4*min(minChunk, a.max) {' \
  'if a.size > 2*a.live+4*a.max {' \
  ./internal/memstore/ '^TestArenaSmallStateFrees$'

# The SQLite sweep keeps half of its clock slack only: a row needed again
# by a clock step back within the slack is deleted.
mutant sqlite-sweep-half-slack limiter/sqlite/schema.go \
  'ELSE tat <= ?1 - ?2 END' \
  'ELSE tat <= ?1 - ?2 + 500000 END' \
  ./limiter/sqlite/ '^TestSweepKeepsRowsWithinSlack$'

# ---------------------------------------------------------------------------
took=$(($(date +%s) - t0))
if [ $count = 0 ]; then
  echo "no mutant matches: ${filters[*]}"; exit 1
fi
if [ ${#failed[@]} -gt 0 ]; then
  echo "FAIL: ${#failed[@]} of $count mutants not caught: ${failed[*]} ($took s)"
  exit 1
fi
echo "PASS: all $count mutants caught, each by two failing runs ($took s)"
