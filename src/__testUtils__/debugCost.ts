/*
 * Figures a cost or leak test measures (memory growth, sockets, live objects), printed only
 * when DEBUG_COST is set (`DEBUG_COST=1 npx backstage-cli package test ...`): the checks judge
 * them either way, and an ordinary test run prints only what a reader needs.
 */
export function debugCost(text: string): void {
  if (!process.env.DEBUG_COST) return;
  // eslint-disable-next-line no-console
  console.log(text);
}
