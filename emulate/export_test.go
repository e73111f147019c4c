package emulate

// LetThrough exports letThrough for the completeness test.
var LetThrough = letThrough
