// The one activity of bench/peers/README.md: no arguments, does nothing,
// returns nothing (encoded as a null payload).
export async function Noop(): Promise<void> {}
