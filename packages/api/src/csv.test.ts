import { describe, expect, it } from 'vitest';
import { csvField, toCsv } from './csv.ts';

describe('CSV', () => {
  it('quotes fields with commas, quotes and line breaks, doubling the quotes', () => {
    expect(csvField('plain')).toBe('plain');
    expect(csvField('Operator, Ada')).toBe('"Operator, Ada"');
    expect(csvField('Ada "the" Operator')).toBe('"Ada ""the"" Operator"');
    expect(csvField('first line\nsecond')).toBe('"first line\nsecond"');
    expect(csvField('a\r\nb')).toBe('"a\r\nb"');
    expect(csvField(null)).toBe('');
    expect(csvField(3)).toBe('3');
  });

  it('keeps a spreadsheet from running a cell as a formula', () => {
    expect(csvField('=HYPERLINK("http://x")')).toBe(`"'=HYPERLINK(""http://x"")"`);
    expect(csvField('+1')).toBe("'+1");
    expect(csvField('@me')).toBe("'@me");
  });

  it('writes a header and rows, each line ending in CRLF', () => {
    expect(
      toCsv(
        ['a', 'b'],
        [
          ['x,y', 'z'],
          [null, 'q"'],
        ],
      ),
    ).toBe('a,b\r\n"x,y",z\r\n,"q"""\r\n');
  });
});
