package proxy

import "math"

// Buckets is the number of sticky buckets: a weight of w percent sends the
// keys whose bucket is below w*100 to the new backend (invariant 5).
const Buckets = 10000

// Bucket returns the sticky bucket of key, in [0, Buckets). It is fixed and
// documented so that every replica, and any tool, computes the same one:
//
//	bucket = fmix64(fnv1a64(key)) mod 10000
//
// FNV-1a 64 (offset 14695981039346656037, prime 1099511628211) over the key's
// bytes, then MurmurHash3's 64-bit finalizer, because FNV-1a alone leaves
// the low bits (which a modulus of 10000 = 2^4 * 625 reads) poorly mixed.
func Bucket(key string) int {
	h := uint64(14695981039346656037)
	for i := 0; i < len(key); i++ {
		h ^= uint64(key[i])
		h *= 1099511628211
	}
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return int(h % Buckets)
}

// Threshold converts a weight in percent (two decimals) to a bucket bound:
// a key goes to new iff Bucket(key) < Threshold(weight).
func Threshold(weight float64) int {
	t := int(math.Round(weight * 100))
	return max(0, min(Buckets, t))
}

// ToNew reports whether key goes to the new backend at weight. Raising the
// weight only moves keys from legacy to new, lowering it only moves them
// back, and the same key always gets the same answer at one weight.
func ToNew(key string, weight float64) bool {
	return Bucket(key) < Threshold(weight)
}
