/**
 * The memory storage's group joins (Storage.join): per group, the set of members that ended,
 * kept as long as the records (ttlMs after the last join). In process, storing the record and
 * adding the member is one synchronous step, so it is atomic for every app on the backend.
 */
interface Ended {
  readonly members: Set<number>;
  expiresAt: number;
}

export class JoinSets {
  // In the order of each group's last join: with one result TTL for the app (the usual case) the
  // expired ones are at the head, so each join drops them without a timer or a scan.
  readonly #groups = new Map<string, Ended>();

  /** Adds `member` to `group`'s set; answers the count of distinct members in it. */
  add(group: string, member: number, ttlMs: number): number {
    const now = Date.now();
    for (const [id, g] of this.#groups) {
      if (g.expiresAt > now) break;
      this.#groups.delete(id);
    }
    let ended = this.#groups.get(group);
    if (ended === undefined) ended = { members: new Set(), expiresAt: 0 };
    else this.#groups.delete(group); // re-inserted last: the map stays in the order of last joins
    ended.members.add(member);
    ended.expiresAt = now + ttlMs;
    this.#groups.set(group, ended);
    return ended.members.size;
  }
}
