package emulate

// Exported for the tests of package emulate_test.
var (
	LetThrough = letThrough
	CutSelf    = cutSelf
	StartTime  = startTime
)

// IDMap exposes the id map parser and its two directions.
func IDMap(text string, id uint32) (to, from uint32, ok bool, err error) {
	m, err := parseIDMap([]byte(text))
	if err != nil {
		return 0, 0, false, err
	}
	from, ok = fromCaller(m, id)
	return toCaller(m, id), from, ok, nil
}
