package shadow

// OnHandled makes m call f after handling each exchange, so tests wait for
// the workers instead of sleeping.
func OnHandled(m *Mirror, f func(Exchange)) { m.handled = f }
