/** Insertion order is age: drops the oldest key once `max` is exceeded (bounded memory per function). */
export function trimOldest(collection: Set<string> | Map<string, unknown>, max: number): void {
  if (collection.size <= max) return;
  const oldest = collection.keys().next();
  if (oldest.done !== true) collection.delete(oldest.value);
}
