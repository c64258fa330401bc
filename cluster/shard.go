package cluster

// Owner says which live member collects target. Rendezvous hashing (each
// member scores every target, the highest score wins) moves only the
// targets of a member that leaves or comes back, with no shared table to
// agree on: every node computes the same answer from the same member list.
//
// A member of the target's zone is preferred while one is live, so that a
// zone's devices are polled from inside it; when none is, the target falls
// back to the whole cluster rather than going unwatched. "" when members
// is empty.
func Owner(target, zone string, members []Member) string {
	inZone := false
	for _, m := range members {
		if m.Zone == zone {
			inZone = true
			break
		}
	}
	var best string
	var bestScore uint64
	found := false
	for _, m := range members {
		if inZone && m.Zone != zone {
			continue
		}
		s := score(m.Node, target)
		// Ties (astronomically rare) go to the smaller name so that the
		// answer never depends on the order of members.
		if !found || s > bestScore || (s == bestScore && m.Node < best) {
			best, bestScore, found = m.Node, s, true
		}
	}
	return best
}

// score is FNV-1a 64 of node "\x00" target, finished with splitmix64's
// mixer: FNV alone leaves the high bits poorly mixed for inputs that share
// a long prefix (target names like "pdu-a-01", "pdu-a-02"), which skews
// the shares.
func score(node, target string) uint64 {
	const (
		offset = 14695981039346656037
		prime  = 1099511628211
	)
	h := uint64(offset)
	for i := 0; i < len(node); i++ {
		h ^= uint64(node[i])
		h *= prime
	}
	h ^= 0
	h *= prime
	for i := 0; i < len(target); i++ {
		h ^= uint64(target[i])
		h *= prime
	}
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return h
}
