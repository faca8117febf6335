package database

// SetAbandonForTest switches abandoning connections on or off (see AbandonAfter), so that a
// test can show that without it a request outlives its deadline.
func SetAbandonForTest(on bool) { abandonOff = !on }
