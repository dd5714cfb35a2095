'use client';

import { useEffect, useState } from 'react';
import { chooseTheme, readThemeChoice, type ThemeChoice } from '~/lib/theme';

/** System, light or dark; remembered in this browser. */
export function ThemeToggle() {
  const [choice, setChoice] = useState<ThemeChoice>('system');
  useEffect(() => setChoice(readThemeChoice()), []);
  return (
    <select
      aria-label="Theme"
      value={choice}
      onChange={(e) => {
        const next = e.target.value as ThemeChoice;
        setChoice(next);
        chooseTheme(next);
      }}
      className="rounded-md border border-slate-300 bg-white px-1.5 py-1 text-xs text-slate-700"
    >
      <option value="system">Theme: system</option>
      <option value="light">Theme: light</option>
      <option value="dark">Theme: dark</option>
    </select>
  );
}
