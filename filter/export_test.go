package filter

// InstallError gives tests the error explanation of Install, with a probe
// they choose.
var InstallError = installError
