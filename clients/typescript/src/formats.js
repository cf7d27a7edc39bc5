// The string formats a field may declare, checked exactly as the Rust side checks them
// (crates/grest-ws-core/src/validate/format.rs; the IP parsers follow Rust's `std::net` parsers).

const ASCII_ALNUM = /^[A-Za-z0-9]$/;
const ATEXT = "!#$%&'*+/=?^_`{|}~-";
const DIGITS = /^[0-9]+$/;
const HEX = /^[0-9A-Fa-f]+$/;
// Rust's `char::is_whitespace` (Unicode White_Space) and `char::is_control` (Cc).
const SPACE_OR_CONTROL = /[\u0000-\u0020\u007f-\u009f\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/u;

function isEmail(s) {
  const at = s.lastIndexOf("@");
  if (at < 0) return false;
  const local = s.slice(0, at);
  const domain = s.slice(at + 1);
  const atomOk = (atom) => atom !== "" && [...atom].every((c) => ASCII_ALNUM.test(c) || ATEXT.includes(c));
  const localOk = local.length >= 1 && local.length <= 64 && local.split(".").every(atomOk);
  return s.length <= 254 && localOk && isDomain(domain);
}

function isDomain(domain) {
  const labels = domain.split(".");
  return (
    domain.length <= 253 &&
    labels.length >= 2 &&
    labels.every(
      (label) =>
        label.length >= 1 &&
        label.length <= 63 &&
        !label.startsWith("-") &&
        !label.endsWith("-") &&
        [...label].every((c) => ASCII_ALNUM.test(c) || c === "-"),
    )
  );
}

function isUrl(s) {
  if (SPACE_OR_CONTROL.test(s)) return false;
  const separator = s.indexOf("://");
  if (separator < 0) return false;
  const scheme = s.slice(0, separator);
  const rest = s.slice(separator + 3);
  const schemeOk = /^[A-Za-z][A-Za-z0-9+.-]*$/.test(scheme);
  const authority = rest.split(/[/?#]/)[0];
  const hostPort = authority.slice(authority.lastIndexOf("@") + 1);
  const colon = hostPort.lastIndexOf(":");
  // A bracketed IPv6 host keeps its colons.
  const hasPort = colon >= 0 && !hostPort.slice(colon + 1).includes("]");
  const host = hasPort ? hostPort.slice(0, colon) : hostPort;
  const port = hasPort ? hostPort.slice(colon + 1) : undefined;
  const portOk = port === undefined || (port.length >= 1 && port.length <= 5 && DIGITS.test(port) && Number(port) <= 65535);
  return schemeOk && host !== "" && portOk;
}

function isUuid(s) {
  const groups = s.split("-");
  const lengths = [8, 4, 4, 4, 12];
  return groups.length === 5 && groups.every((group, i) => group.length === lengths[i] && HEX.test(group));
}

/** `n` ASCII digits as a number, or undefined. */
function digits(s, n) {
  return s.length === n && DIGITS.test(s) ? Number(s) : undefined;
}

function isDate(s) {
  const parts = s.split("-");
  if (parts.length !== 3) return false;
  const [year, month, day] = [digits(parts[0], 4), digits(parts[1], 2), digits(parts[2], 2)];
  if (year === undefined || month === undefined || day === undefined) return false;
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  const days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1];
  return days !== undefined && day >= 1 && day <= days;
}

function isDateTime(s) {
  const t = s.search(/[Tt]/);
  if (t < 0) return false;
  const date = s.slice(0, t);
  let time = s.slice(t + 1);
  let offset;
  if (/[Zz]$/.test(time)) {
    time = time.slice(0, -1);
  } else {
    const sign = Math.max(time.lastIndexOf("+"), time.lastIndexOf("-"));
    if (sign < 0) return false;
    offset = time.slice(sign + 1);
    time = time.slice(0, sign);
  }
  const offsetOk = offset === undefined || isHhMm(offset, 23);
  const dot = time.indexOf(".");
  const clock = dot < 0 ? time : time.slice(0, dot);
  const fraction = dot < 0 ? undefined : time.slice(dot + 1);
  const fractionOk = fraction === undefined || DIGITS.test(fraction);
  const seconds = digits(clock.slice(6), 2);
  const clockOk = clock.length === 8 && isHhMm(clock.slice(0, 5), 23) && clock[5] === ":" && seconds !== undefined && seconds <= 60;
  return isDate(date) && clockOk && fractionOk && offsetOk;
}

/** `HH:MM` with hours up to `maxHour`. */
function isHhMm(s, maxHour) {
  const hours = digits(s.slice(0, 2), 2);
  const minutes = digits(s.slice(3), 2);
  return s.length === 5 && s[2] === ":" && hours !== undefined && hours <= maxHour && minutes !== undefined && minutes <= 59;
}

/** A cursor over an address, reading it as Rust's `std::net` parser does. */
class Reader {
  constructor(s) {
    this.s = s;
    this.at = 0;
  }

  /** Runs `read`; on failure (undefined) the cursor goes back to where it was. */
  atomically(read) {
    const start = this.at;
    const result = read();
    if (result === undefined) this.at = start;
    return result;
  }

  char(c) {
    if (this.s[this.at] !== c) return undefined;
    this.at += 1;
    return c;
  }

  /** Up to `maxDigits` digits of `radix`; a leading zero followed by more digits only when `zeroPrefix`. */
  number(radix, maxDigits, zeroPrefix, max) {
    return this.atomically(() => {
      let value = 0;
      let count = 0;
      while (count < maxDigits && this.at < this.s.length) {
        const digit = parseInt(this.s[this.at], radix);
        if (Number.isNaN(digit)) break;
        if (count === 1 && value === 0 && !zeroPrefix) return undefined;
        value = value * radix + digit;
        count += 1;
        this.at += 1;
      }
      return count > 0 && value <= max ? value : undefined;
    });
  }

  /** `read`, preceded by `separator` unless it is the first item. */
  separated(separator, index, read) {
    return this.atomically(() => (index > 0 && this.char(separator) === undefined ? undefined : read()));
  }

  ipv4() {
    return this.atomically(() => {
      for (let i = 0; i < 4; i++) {
        if (this.separated(".", i, () => this.number(10, 3, false, 255)) === undefined) return undefined;
      }
      return true;
    });
  }

  /** Colon-separated groups (at most `limit`), with an optional trailing IPv4: how many groups, and whether it did. */
  groups(limit) {
    for (let i = 0; i < limit; i++) {
      if (i < limit - 1 && this.separated(":", i, () => this.ipv4()) !== undefined) return [i + 2, true];
      if (this.separated(":", i, () => this.number(16, 4, true, 0xffff)) === undefined) return [i, false];
    }
    return [limit, false];
  }

  ipv6() {
    return this.atomically(() => {
      const [head, headIpv4] = this.groups(8);
      if (head === 8) return true;
      if (headIpv4 || this.char(":") === undefined || this.char(":") === undefined) return undefined;
      this.groups(8 - (head + 1));
      return true;
    });
  }
}

/** Whether `read` accepts the whole of `s`. */
function parses(s, read) {
  const reader = new Reader(s);
  return read(reader) !== undefined && reader.at === s.length;
}

const isIpv4 = (s) => parses(s, (r) => r.ipv4());
const isIpv6 = (s) => parses(s, (r) => r.ipv6());

/** The format checks by the name a descriptor gives them. */
export const FORMATS = {
  email: isEmail,
  url: isUrl,
  uuid: isUuid,
  date: isDate,
  dateTime: isDateTime,
  ip: (s) => isIpv4(s) || isIpv6(s),
  ipv4: isIpv4,
  ipv6: isIpv6,
};
