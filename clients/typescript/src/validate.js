// Validation with grest's issue codes against the shapes of a generated contract descriptor: the same walk, the
// same coercions and the same issues as the Rust side's slow path (crates/grest-ws-core/src/validate/coerce.rs).

import { isObject } from "./errors.js";
import { FORMATS } from "./formats.js";

const TEMPLATES = {
  required: "Value is required",
  "invalid.string.type": "Value must be a string",
  "invalid.string.nonEmpty": "Value must not be empty",
  "invalid.string.minLength": "Value must be at least {min} characters",
  "invalid.string.maxLength": "Value must be at most {max} characters",
  "invalid.string.range": "Value must be between {min} and {max} characters",
  "invalid.number.type": "Value must be a number",
  "invalid.number.integer": "Value must be an integer",
  "invalid.number.min": "Value must be at least {min}",
  "invalid.number.max": "Value must be at most {max}",
  "invalid.number.range": "Value must be between {min} and {max}",
  "invalid.boolean.type": "Value must be a boolean",
  "invalid.literal.invalid": "Value must be one of: {expected}",
  "invalid.object.type": "Value must be an object",
  "invalid.record.type": "Value must be an object",
  "invalid.array.type": "Value must be an array",
  "invalid.array.minLength": "Array must have at least {min} items",
  "invalid.array.maxLength": "Array must have at most {max} items",
  "invalid.array.range": "Array length must be between {min} and {max}",
  "invalid.string.pattern": "Value must match the pattern {pattern}",
  "invalid.string.email": "Value must be a valid email address",
  "invalid.string.url": "Value must be a valid URL",
  "invalid.string.uuid": "Value must be a valid UUID",
  "invalid.string.date": "Value must be a valid date (YYYY-MM-DD)",
  "invalid.string.dateTime": "Value must be a valid date-time (RFC 3339)",
  "invalid.string.ip": "Value must be a valid IP address",
  "invalid.string.ipv4": "Value must be a valid IPv4 address",
  "invalid.string.ipv6": "Value must be a valid IPv6 address",
  "invalid.number.multipleOf": "Value must be a multiple of {multipleOf}",
  "invalid.tuple.type": "Value must be an array",
  "invalid.tuple.length": "Array must have exactly {length} items",
  "invalid.union.invalid": "Value does not match any allowed variant",
  "invalid.dunion.notObject": "Value must be an object",
  "invalid.dunion.missingDiscriminator": "Value must name its variant, one of: {expected}",
  "invalid.dunion.unknownVariant": "Unknown variant; expected one of: {expected}",
};

const NO_RULES = Object.freeze({});

/**
 * Validates `value` against `shape`, coercing like grest (`"2"` → `2`, `"true"` → `true`, `5` → `"5"`), and
 * lists every issue. The value is first put through JSON (what the wire would carry), so the caller's object is
 * never changed.
 * @param {object} shape a shape of a generated descriptor
 * @param {unknown} value `undefined` means missing
 * @param {Record<string, object>} [shapes] the descriptor's named shapes (`{kind: "ref"}` targets)
 * @returns {{value: unknown, issues: Array<{path: string, code: string, message: string, params?: object, value?: unknown}>}}
 */
export function validate(shape, value, shapes = {}) {
  const issues = [];
  const copy = value === undefined ? undefined : JSON.parse(JSON.stringify(value) ?? "null");
  const checked = walk(copy, shape, NO_RULES, "", issues, shapes);
  return { value: checked, issues };
}

function resolve(shape, shapes) {
  let s = shape;
  for (let depth = 0; s.kind === "ref"; depth++) {
    const target = shapes[s.name];
    if (!target || depth > 64) throw new TypeError(`unknown shape ${JSON.stringify(s.name)}`);
    s = target;
  }
  return s;
}

function push(issues, path, code, params, value) {
  let message = TEMPLATES[code];
  for (const [key, param] of Object.entries(params)) message = message.replace(`{${key}}`, String(param));
  const issue = { path, code, message };
  if (Object.keys(params).length > 0) issue.params = params;
  if (value !== undefined) issue.value = value;
  issues.push(issue);
}

function join(path, segment) {
  return path ? `${path}.${segment}` : String(segment);
}

function walk(value, rawShape, rules, path, issues, shapes) {
  const shape = resolve(rawShape, shapes);
  if (value === undefined || (value === null && !takesNull(shape))) {
    if (shape.kind !== "optional") push(issues, path, "required", {}, value);
    return value;
  }
  switch (shape.kind) {
    case "any":
    case "null":
      return value;
    case "optional":
      return walk(value, shape.inner, rules, path, issues, shapes);
    case "boolean": {
      let coerced;
      if (typeof value === "boolean") coerced = value;
      else if (value === "true" || value === "1" || value === 1) coerced = true;
      else if (value === "false" || value === "0" || value === 0) coerced = false;
      if (coerced === undefined) push(issues, path, "invalid.boolean.type", {}, value);
      return coerced ?? value;
    }
    case "string": {
      const s = typeof value === "number" || typeof value === "boolean" ? String(value) : value;
      if (typeof s !== "string") {
        push(issues, path, "invalid.string.type", {}, s);
        return s;
      }
      if (rules.nonEmpty && s === "") push(issues, path, "invalid.string.nonEmpty", {}, s);
      checkLength(s.length, rules, path, issues, "string", s);
      if (rules.pattern !== undefined && !regExp(rules.pattern).test(s)) {
        push(issues, path, "invalid.string.pattern", { pattern: rules.pattern }, s);
      }
      if (rules.format !== undefined && !FORMATS[rules.format](s)) push(issues, path, `invalid.string.${rules.format}`, {}, s);
      return s;
    }
    case "literal":
      if (typeof value !== "string" || !shape.values.includes(value)) {
        push(issues, path, "invalid.literal.invalid", { expected: shape.values.join(", ") }, value);
      }
      return value;
    case "number": {
      const n = typeof value === "number" ? value : typeof value === "string" ? Number(value) : NaN;
      if (!Number.isFinite(n)) {
        push(issues, path, "invalid.number.type", {}, value);
        return value;
      }
      if (shape.integer && !Number.isInteger(n)) push(issues, path, "invalid.number.integer", {}, n);
      const lo = maxOf(shape.min, rules.min);
      const hi = minOf(shape.max, rules.max);
      checkBounds(n, lo, hi, path, issues);
      if (rules.multipleOf !== undefined && n % rules.multipleOf !== 0) {
        push(issues, path, "invalid.number.multipleOf", { multipleOf: rules.multipleOf }, n);
      }
      return n;
    }
    case "array": {
      if (!Array.isArray(value)) {
        push(issues, path, "invalid.array.type", {}, value);
        return value;
      }
      // grest coerces the elements first, then reports a length issue *instead of* the elements' issues.
      const elementIssues = [];
      const items = value.map((item, i) => walk(item, shape.item, NO_RULES, join(path, i), elementIssues, shapes));
      if (!checkLength(items.length, rules, path, issues, "array", items)) issues.push(...elementIssues);
      return items;
    }
    case "record": {
      if (!isObject(value)) {
        push(issues, path, "invalid.record.type", {}, value);
        return value;
      }
      for (const key of Object.keys(value)) {
        value[key] = walk(value[key], shape.item, NO_RULES, join(path, key), issues, shapes);
      }
      return value;
    }
    case "tuple": {
      if (!Array.isArray(value)) {
        push(issues, path, "invalid.tuple.type", {}, value);
        return value;
      }
      if (value.length !== shape.items.length) {
        push(issues, path, "invalid.tuple.length", { length: shape.items.length }, value);
        return value;
      }
      return value.map((item, i) => {
        const element = shape.items[i];
        return walk(item, element.shape, element.rules ?? NO_RULES, join(path, i), issues, shapes);
      });
    }
    case "union":
      return walkUnion(value, shape, path, issues, shapes);
    case "object": {
      if (!isObject(value)) {
        push(issues, path, "invalid.object.type", {}, value);
        return value;
      }
      for (const field of shape.fields) {
        // A flattened type's fields are the enclosing object's own.
        if (field.flatten) {
          walk(value, field.shape, field.rules ?? NO_RULES, path, issues, shapes);
          continue;
        }
        const present = Object.prototype.hasOwnProperty.call(value, field.name);
        const entry = present ? value[field.name] : undefined;
        // A field with a default takes it when missing or null, as grest applies defaults.
        if (field.hasDefault && entry === undefined) continue;
        if (field.hasDefault && entry === null) {
          const kind = resolve(field.shape, shapes).kind;
          if (kind !== "optional" && kind !== "any" && kind !== "null") {
            delete value[field.name];
            continue;
          }
        }
        const checked = walk(entry, field.shape, field.rules ?? NO_RULES, join(path, field.name), issues, shapes);
        if (checked !== undefined) value[field.name] = checked;
      }
      return value;
    }
    default:
      throw new TypeError(`unknown shape kind ${JSON.stringify(shape.kind)}`);
  }
}

/** Whether `null` is a value of the shape rather than a missing one. */
function takesNull(shape) {
  if (shape.kind === "null" || shape.kind === "any") return true;
  return shape.kind === "union" && shape.tagging === "untagged" && shape.variants.some((v) => v.shape === undefined);
}

/** An enum: its variant found as serde's representation names it, then its content walked. */
function walkUnion(value, shape, path, issues, shapes) {
  const expected = { expected: shape.variants.map((v) => v.name).join(", ") };
  const find = (name) => shape.variants.find((v) => v.name === name);
  switch (shape.tagging) {
    case "external": {
      if (typeof value === "string") {
        const variant = find(value);
        if (variant === undefined) push(issues, path, "invalid.dunion.unknownVariant", expected, value);
        else if (variant.shape !== undefined) push(issues, path, "invalid.dunion.notObject", {}, value);
        return value;
      }
      if (!isObject(value)) {
        push(issues, path, "invalid.dunion.notObject", {}, value);
        return value;
      }
      const keys = Object.keys(value);
      if (keys.length !== 1) {
        push(issues, path, "invalid.dunion.missingDiscriminator", expected, value);
        return value;
      }
      const variant = find(keys[0]);
      if (variant === undefined) {
        push(issues, path, "invalid.dunion.unknownVariant", expected, keys[0]);
        return value;
      }
      // A unit variant written as an object holds `null`.
      const content = variant.shape ?? { kind: "null" };
      value[keys[0]] = walk(value[keys[0]], content, variant.rules ?? NO_RULES, join(path, keys[0]), issues, shapes);
      return value;
    }
    case "internal":
    case "adjacent": {
      if (!isObject(value)) {
        push(issues, path, "invalid.dunion.notObject", {}, value);
        return value;
      }
      const tagPath = join(path, shape.tag);
      const tag = value[shape.tag];
      if (tag === undefined || tag === null) {
        push(issues, tagPath, "invalid.dunion.missingDiscriminator", expected, tag);
        return value;
      }
      const variant = typeof tag === "string" ? find(tag) : undefined;
      if (variant === undefined) {
        push(issues, tagPath, "invalid.dunion.unknownVariant", expected, tag);
        return value;
      }
      if (variant.shape === undefined) return value;
      const rules = variant.rules ?? NO_RULES;
      if (shape.tagging === "internal") return walk(value, variant.shape, rules, path, issues, shapes);
      const content = walk(value[shape.content], variant.shape, rules, join(path, shape.content), issues, shapes);
      if (content !== undefined) value[shape.content] = content;
      return value;
    }
    case "untagged": {
      // The first variant the value satisfies (after coercion) wins; one issue when none does.
      for (const variant of shape.variants) {
        if (variant.shape === undefined) {
          if (value === null) return value;
          continue;
        }
        const found = [];
        const candidate = walk(structuredClone(value), variant.shape, variant.rules ?? NO_RULES, path, found, shapes);
        if (found.length === 0) return candidate;
      }
      push(issues, path, "invalid.union.invalid", {}, value);
      return value;
    }
    default:
      throw new TypeError(`unknown union tagging ${JSON.stringify(shape.tagging)}`);
  }
}

const REGEXPS = new Map();

/** A pattern's RegExp, compiled once (`u`: code points, and the strict syntax the Rust side also accepts). */
function regExp(source) {
  let compiled = REGEXPS.get(source);
  if (compiled === undefined) {
    compiled = new RegExp(source, "u");
    REGEXPS.set(source, compiled);
  }
  return compiled;
}

function maxOf(a, b) {
  return a === undefined ? b : b === undefined ? a : Math.max(a, b);
}

function minOf(a, b) {
  return a === undefined ? b : b === undefined ? a : Math.min(a, b);
}

/** Reports a length outside the declared bounds (one `range` issue when both are declared); true if it did. */
function checkLength(length, rules, path, issues, family, value) {
  const { minLength: min, maxLength: max } = rules;
  const tooShort = min !== undefined && length < min;
  const tooLong = max !== undefined && length > max;
  if (!tooShort && !tooLong) return false;
  if (min !== undefined && max !== undefined) push(issues, path, `invalid.${family}.range`, { min, max }, value);
  else if (min !== undefined) push(issues, path, `invalid.${family}.minLength`, { min }, value);
  else push(issues, path, `invalid.${family}.maxLength`, { max }, value);
  return true;
}

function checkBounds(n, min, max, path, issues) {
  const below = min !== undefined && n < min;
  const above = max !== undefined && n > max;
  if (!below && !above) return;
  if (min !== undefined && max !== undefined) push(issues, path, "invalid.number.range", { min, max }, n);
  else if (min !== undefined) push(issues, path, "invalid.number.min", { min }, n);
  else push(issues, path, "invalid.number.max", { max }, n);
}
