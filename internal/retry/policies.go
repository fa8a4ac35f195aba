package retry

import "time"

// The project's policies, one per layer that retries an AWS call; each
// returns a fresh value (no shared state) for the caller to inject Sleep
// and Rand into. docs/retries.md derives every path's worst case from them
// (TestRetriesDoc keeps the two in step).

// SDK is the SDK's own retryer on every client (awsconf), for the calls no
// project loop retries: the control table (leases, checkpoints, jobs,
// dead letters), the proxy's routes and pins, the orders service, the
// outbox reads. Three attempts, waiting at most 100 ms then 200 ms: short,
// as some of these calls are on a request's path. Loops that retry for
// themselves send their calls with NoSDKRetry.
func SDK() Policy { return Policy{MaxAttempts: 3, Base: 100 * time.Millisecond, Cap: 2 * time.Second} }

// DynamoDB is the policy of a loop that retries DynamoDB calls and the
// items a call left undone (unprocessed, cancelled by a conflict): guard's
// writes, the relay's deletes, the verifier's reads. 10 attempts, waits from
// 50 ms doubling to 5 s.
func DynamoDB() Policy {
	return Policy{MaxAttempts: 10, Base: 50 * time.Millisecond, Cap: 5 * time.Second}
}

// Events is the publisher's policy for an entry of PutEvents: 20 attempts
// (the cdc's and the relay's events.max_attempts), waits from 100 ms
// doubling to 5 s.
func Events() Policy {
	return Policy{MaxAttempts: 20, Base: 100 * time.Millisecond, Cap: 5 * time.Second}
}

// Races is the orders service's policy for a change that lost a race (a
// transaction conflict, a version changed under it): 8 attempts (its
// transact_attempts), short waits from 5 ms to 200 ms that spread the
// racers.
func Races() Policy {
	return Policy{MaxAttempts: 8, Base: 5 * time.Millisecond, Cap: 200 * time.Millisecond}
}

// Batches is the cdc's policy for a batch whose writes or events failed
// after their own policy gave up (a sink down for longer): 9 attempts (its
// apply.retries + 1), waits from 250 ms doubling to 10 s.
func Batches() Policy {
	return Policy{MaxAttempts: 9, Base: 250 * time.Millisecond, Cap: 10 * time.Second}
}
