package netns

// Prepare is prepare, for the tests of package netns_test.
var Prepare = prepare
