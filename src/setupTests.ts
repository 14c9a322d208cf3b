/*
 * Run before every test file (backstage-cli adds src/setupTests.ts to jest's
 * setupFilesAfterEnv by itself). It holds only what keeps the test run's output to what a
 * reader needs; nothing here changes what a test checks.
 */

// On Node 20 the AWS SDK warns that its releases after January 2027 will need Node 22. Each
// test file has its own module registry, so the SDK's once-per-process guard resets and the
// nine-line warning came once per test file that makes an STS client. A user on Node 20
// still sees it: this is the SDK's own switch, set for the test run only (the demo sets it
// too, in dev/index.ts), and the plugin's code does not touch it.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
