package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/sharedlimit/sharedlimit/limiter"
)

func isSlotTooLate(err error) bool { return errors.Is(err, limiter.ErrSlotTooLate) }

// prefixed is err's message with the command's name in front, once.
func prefixed(err error) string {
	msg := err.Error()
	if strings.HasPrefix(msg, "lighter:") {
		return msg
	}
	return "lighter: " + msg
}

func (c *cli) printErr(err error) { fmt.Fprintln(c.stderr, prefixed(err)) }
