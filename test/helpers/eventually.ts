/** Polls until `check` stops throwing, or the safety bound passes (then its last assertion error is thrown). */
export async function eventually(check: () => void, boundMs = 10_000, everyMs = 25): Promise<void> {
  const deadline = Date.now() + boundMs;
  for (;;) {
    try {
      check();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, everyMs));
    }
  }
}
