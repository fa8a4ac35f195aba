package guard

// SizeOf is the size an Item carries (0 when Write is to compute it).
func SizeOf(it Item) int { return it.size }
