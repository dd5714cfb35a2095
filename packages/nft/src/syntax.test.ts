// The model is data: nft text is written in syntax.ts (rules, declarations,
// hooks, elements) and render.ts (the commands around it), nowhere else.
import { readdirSync, readFileSync } from 'node:fs';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const dir = new URL('./', import.meta.url).pathname;
const WRITERS = new Set(['syntax.ts', 'render.ts']);
/** Phrases of the nft language (single words such as `masquerade` are also the vocabulary's kinds). */
const NFT_TEXT =
  /meta (mark|l4proto|nfproto)|ct mark|vmap @|typeof |type (filter|nat)|hook |priority |policy |ether [sd]addr|ip6? [sd]addr|th [sd]port|tcp (flags|option)|icmp(v6)? type|jhash |numgen |@th,|map @|goto |fwd to|dnat |flags |counter;|\s\.\s|-\$\{/;

/** Every string and template part of a module (comments are not read). */
function literals(file: string): string[] {
  const source = ts.createSourceFile(file, readFileSync(`${dir}${file}`, 'utf8'), ts.ScriptTarget.Latest);
  const out: string[] = [];
  const visit = (node: ts.Node) => {
    if (ts.isStringLiteralLike(node) || ts.isTemplateLiteralToken(node)) out.push(node.getText(source));
    node.forEachChild(visit);
  };
  visit(source);
  return out;
}

describe('where nft text is written', () => {
  it('no module of the model has nft text in its strings', () => {
    const modules = readdirSync(dir).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts') && !WRITERS.has(f));
    expect(modules).toContain('model.ts');
    const found = modules.flatMap((f) => literals(f).flatMap((text) => (NFT_TEXT.test(text) ? [`${f}: ${text}`] : [])));
    expect(found).toEqual([]);
  });
});
