package policy

// ParseListsFor is ParseLists for the ABIs of a kernel of another
// architecture, so that tests pin x86_64's names on any machine.
func ParseListsFor(native uint32, trace, deny []string) (*Rules, error) {
	return parseLists(abisFor(native), trace, deny)
}
