'use client';

import { useLayoutEffect, useRef, type ReactNode } from 'react';

export function Table({ head, children, caption }: { head: ReactNode[]; children: ReactNode; caption: string }) {
  const ref = useRef<HTMLTableElement>(null);
  // On a phone each row stacks into a card (globals.css, .stack-table): every cell is
  // labelled with its column's heading, read from the header row as rendered.
  useLayoutEffect(() => {
    const table = ref.current;
    if (!table) return;
    const labels = [...table.tHead!.rows[0]!.cells].map((th) => th.textContent ?? '');
    for (const row of table.tBodies[0]!.rows)
      [...row.cells].forEach((cell, i) => {
        if (labels[i] && cell.getAttribute('data-label') !== labels[i]) cell.setAttribute('data-label', labels[i]);
      });
  });
  return (
    <div className="stack-table overflow-x-auto rounded-lg border border-slate-200 bg-white">
      <table ref={ref} className="w-full text-left text-sm sm:min-w-[40rem]">
        <caption className="sr-only">{caption}</caption>
        <thead className="bg-slate-50 text-xs uppercase tracking-wide text-slate-500">
          <tr>
            {head.map((h, i) => (
              <th key={i} scope="col" className="px-3 py-2 font-medium">
                {h}
              </th>
            ))}
          </tr>
        </thead>
        <tbody className="divide-y divide-slate-100">{children}</tbody>
      </table>
    </div>
  );
}
