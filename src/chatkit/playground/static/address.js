// The page's address names the open thread in its hash, so a reload, a link or Back reopens it.

export function threadIdFromHash(hash) {
  return decodeURIComponent(hash.slice(1));
}

// The address showing `threadId` (none: a new conversation), keeping the page's path and query.
export function threadAddress({ pathname, search }, threadId) {
  return `${pathname}${search}${threadId ? `#${encodeURIComponent(threadId)}` : ""}`;
}

// Points the address at `threadId`: `how` is "push" for a thread the person opened (so Back returns),
// "replace" to change the address in place, "keep" to leave it as it is.
export function showThreadInAddress(threadId, how) {
  if (how === "keep") return;
  const url = threadAddress(location, threadId);
  if (url === `${location.pathname}${location.search}${location.hash}`) return;
  if (how === "push") history.pushState(null, "", url);
  else history.replaceState(null, "", url);
}
