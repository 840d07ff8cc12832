/**
 * The compact form of a pool chunk's arguments and values, used by both
 * sides: when every item's arguments are numbers, and as many for each,
 * they travel as one `Float64Array` (cloned or serialized as one block,
 * not as thousands of small arrays); a chunk's values likewise when all
 * are numbers. Anything else travels as it is.
 *
 * @module
 */

/** Numeric argument lists, `arity` numbers per item, item after item. */
export interface PackedLists {
  readonly arity: number;
  readonly numbers: Float64Array;
}

/** A chunk's argument lists as they travel: packed, or as they are. */
export type ChunkArgs = unknown[][] | PackedLists;

/** Packs `lists` if each is `arity` numbers (the same for all); else returns them. */
export function packLists(lists: unknown[][]): ChunkArgs {
  const arity = lists[0]?.length ?? 0;
  if (arity === 0) return lists;
  const numbers = new Float64Array(lists.length * arity);
  let at = 0;
  for (const list of lists) {
    if (list.length !== arity) return lists;
    for (let a = 0; a < arity; a++) {
      const value = list[a];
      if (typeof value !== "number") return lists;
      numbers[at++] = value;
    }
  }
  return { arity, numbers };
}

/** How many items a chunk's arguments hold. */
export function countLists(args: ChunkArgs): number {
  return Array.isArray(args) ? args.length : args.numbers.length / args.arity;
}

/** The argument list of item `i` of a chunk. */
export function listAt(args: ChunkArgs, i: number): unknown[] {
  if (Array.isArray(args)) return args[i]!;
  const { arity, numbers } = args;
  if (arity === 1) return [numbers[i]];
  return Array.from(numbers.subarray(i * arity, (i + 1) * arity));
}

/** A chunk's values as they travel: one `Float64Array` if all are numbers. */
export function packValues(values: unknown[]): unknown[] | Float64Array {
  for (const value of values) if (typeof value !== "number") return values;
  return Float64Array.from(values as number[]);
}
