// Polls an assertion until it passes, for state that settles asynchronously (a watch event
// arriving, a file poller's next tick); after `timeoutMs` the last failure is thrown.
export const eventually = async (check: () => void | Promise<void>, timeoutMs = 5_000): Promise<void> => {
  const until = Date.now() + timeoutMs
  for (;;) {
    try {
      await check()
      return
    } catch (error) {
      if (Date.now() > until) throw error
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
  }
}
