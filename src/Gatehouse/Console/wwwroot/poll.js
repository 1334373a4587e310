// Polling that stops when its view goes away and never overlaps itself.
export function poll(intervalMs, task) {
  let stopped = false;
  let timer = null;
  const run = async () => {
    if (stopped) return;
    try {
      await task();
    } finally {
      if (!stopped) timer = setTimeout(run, intervalMs);
    }
  };
  run();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
