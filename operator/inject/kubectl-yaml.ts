/**
 * YAML read and written as kubectl reads it (sigs.k8s.io/yaml over go-yaml v2), which is neither
 * YAML 1.2 nor the `yaml` library's 1.1 schema. On top of 1.2's core schema:
 * - 0-prefixed octal integers: `defaultMode: 0644` is 420 (1.2 reads 644, which is 0o1204);
 * - y/n/yes/no/on/off in their three spellings are booleans;
 * - Go's prefixed integers in either case (`0X1F`, `0O17`, `0B1`), and underscores in integers
 *   (`1_000`: go-yaml drops them before parsing);
 * - merge keys (`<<`).
 * Not taken from the library's 1.1 schema, which kubectl does not share: base-60 numbers (`0:0`
 * stays a string), timestamps as dates, floats without digits (`e2`, `.` stay strings).
 * Strings that would read as one of these are quoted on output, as the library quotes any plain
 * scalar another tag of the schema would resolve.
 */
import type { DocumentOptions, ParseOptions, SchemaOptions, ScalarTag } from 'yaml';

const TRUE = /^(?:y|Y|yes|Yes|YES|on|On|ON)$/;

const yamlOneOneBool: ScalarTag = {
  identify: () => false, // booleans are written true/false, which every version reads alike
  default: true,
  tag: 'tag:yaml.org,2002:bool',
  test: /^(?:y|Y|yes|Yes|YES|n|N|no|No|NO|on|On|ON|off|Off|OFF)$/,
  resolve: (s) => TRUE.test(s),
};

/** `digits` (sign and underscores allowed) in `radix`. */
function signed(s: string, strip: number, radix: number): number {
  const negative = s.startsWith('-');
  const body = s.replace(/^[-+]/, '').slice(strip).replace(/_/g, '');
  const n = parseInt(body || '0', radix); // `0_` is 0 to go-yaml, which drops the underscores
  return negative ? -n : n;
}

const yamlOneOneOctal: ScalarTag = {
  identify: () => false, // numbers are written in decimal, read alike everywhere
  default: true,
  tag: 'tag:yaml.org,2002:int',
  test: /^[-+]?0[0-7_]+$/,
  resolve: (s) => signed(s, 1, 8),
};

const goPrefixedInt: ScalarTag = {
  identify: () => false,
  default: true,
  tag: 'tag:yaml.org,2002:int',
  // A digit after the prefix: `0x_` is a string to go-yaml.
  test: /^[-+]?0(?:[xX]_*[0-9a-fA-F][0-9a-fA-F_]*|[oO]_*[0-7][0-7_]*|[bB]_*[01][01_]*)$/,
  resolve: (s) => {
    const p = s.replace(/^[-+]/, '')[1]!.toLowerCase();
    return signed(s, 2, p === 'x' ? 16 : p === 'o' ? 8 : 2);
  },
};

/**
 * A number with an underscore anywhere (go-yaml drops them, then parses: `1_000`, `-_1`, `0_8`,
 * which is not octal and so the float 8, `1_000.5`). After the tags above, which take octal and
 * prefixed integers.
 */
const goUnderscoredNumber: ScalarTag = {
  identify: () => false,
  default: true,
  tag: 'tag:yaml.org,2002:float',
  test: /^(?=[^_]*_)(?:[-+]_*)?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]*[0-9][0-9_]*)(?:[eE]_*[-+]?_*[0-9][0-9_]*)?$/,
  resolve: (s) => Number(s.replace(/_/g, '')),
};

/** Options for parseAllDocuments and new Document: kubectl's reading, before the core tags. */
export const KUBECTL_YAML: ParseOptions & DocumentOptions & SchemaOptions = {
  customTags: (tags) => [yamlOneOneBool, yamlOneOneOctal, goPrefixedInt, goUnderscoredNumber, ...tags],
  merge: true,
};
