/** A token bucket: `rate` per second, bursts up to `burst`. */
export class TokenBucket {
  private tokens: number;
  private last = Date.now();
  constructor(
    private readonly rate: number,
    private readonly burst: number,
  ) {
    this.tokens = burst;
  }
  take(): boolean {
    const now = Date.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.rate);
    this.last = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

/** One bucket per key (e.g. client address), forgetting idle keys. */
export class KeyedLimiter {
  private readonly buckets = new Map<string, { bucket: TokenBucket; used: number }>();
  constructor(
    private readonly rate: number,
    private readonly burst: number,
  ) {}
  take(key: string): boolean {
    let b = this.buckets.get(key);
    if (!b) {
      if (this.buckets.size > 100_000) this.prune();
      this.buckets.set(key, (b = { bucket: new TokenBucket(this.rate, this.burst), used: Date.now() }));
    }
    b.used = Date.now();
    return b.bucket.take();
  }
  private prune() {
    const cutoff = Date.now() - 600_000;
    for (const [k, v] of this.buckets) if (v.used < cutoff) this.buckets.delete(k);
  }
}
