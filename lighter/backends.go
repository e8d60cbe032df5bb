package lighter

// The built-in backends, linked so that a fleet moves between them by
// configuration alone.
import (
	_ "github.com/sharedlimit/sharedlimit/limiter/memory" // memory://
	_ "github.com/sharedlimit/sharedlimit/limiter/redis"  // redis://, rediss://
	_ "github.com/sharedlimit/sharedlimit/limiter/sqlite" // sqlite://
)
