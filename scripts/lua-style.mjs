// Format (or, with --check, verify) the plugin's Lua files with StyLua's WebAssembly build
// from npm (@johnnymorganz/stylua), with the settings in .stylua.toml.
//   node scripts/lua-style.mjs --check  → lists files that are not formatted, exit 1 if any
//   node scripts/lua-style.mjs          → rewrites them in place
import { createRequire } from "node:module";
import { readFileSync, writeFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";

const require = createRequire(import.meta.url);
const prefix = process.env.ZEKE_NPM_PREFIX || ".cache/npm";
const stylua = require(join(process.cwd(), prefix, "node_modules/@johnnymorganz/stylua"));

const ROOTS = ["plugin", "lua"];

function luaFiles(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...luaFiles(path));
    else if (name.endsWith(".lua")) out.push(path);
  }
  return out;
}

// .stylua.toml: `key = value` lines (numbers, or strings naming an enum member).
const ENUMS = {
  indent_type: stylua.IndentType,
  quote_style: stylua.QuoteStyle,
  call_parentheses: stylua.CallParenType,
  line_endings: stylua.LineEndings,
  collapse_simple_statement: stylua.CollapseSimpleStatement,
};

function config() {
  const c = stylua.Config.new();
  for (const raw of readFileSync(".stylua.toml", "utf8").split("\n")) {
    const line = raw.replace(/#.*/, "").trim();
    const m = line.match(/^([a-z_]+)\s*=\s*(.+)$/);
    if (!m) continue;
    const [, key, value] = m;
    if (ENUMS[key]) {
      const member = ENUMS[key][value.replace(/"/g, "")];
      if (member === undefined) throw new Error(`.stylua.toml: unknown ${key} ${value}`);
      c[key] = member;
    } else {
      c[key] = Number(value);
    }
  }
  return c;
}

const check = process.argv.includes("--check");
let bad = 0;
for (const file of ROOTS.flatMap(luaFiles)) {
  const before = readFileSync(file, "utf8");
  const after = stylua.formatCode(before, config(), null, stylua.OutputVerification.None);
  if (after === before) continue;
  bad += 1;
  if (check) console.log(`not formatted: ${file}`);
  else writeFileSync(file, after);
}
if (check && bad > 0) {
  console.log(`${bad} Lua file(s) need formatting: run \`make format\``);
  process.exit(1);
}
