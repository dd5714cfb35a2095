// The colour theme: the system setting (prefers-color-scheme) unless the person
// chose light or dark, remembered in this browser. <html class="dark"> turns it on.
'use client';

import { useEffect, useState } from 'react';

export type ThemeChoice = 'system' | 'light' | 'dark';
export const THEME_KEY = 'tula-theme';

/**
 * Runs inline in <head> before the first paint (no flash of the wrong theme), and
 * again whenever the system setting or another tab's choice changes.
 */
export const THEME_SCRIPT = `(function(){var k=${JSON.stringify(THEME_KEY)},m=matchMedia('(prefers-color-scheme: dark)');function a(){var c=null;try{c=localStorage.getItem(k)}catch(e){}document.documentElement.classList.toggle('dark',c==='dark'||(c!=='light'&&m.matches))}a();m.addEventListener('change',a);addEventListener('storage',a)})()`;

export function readThemeChoice(): ThemeChoice {
  try {
    const c = localStorage.getItem(THEME_KEY);
    return c === 'light' || c === 'dark' ? c : 'system';
  } catch {
    return 'system';
  }
}

export function chooseTheme(choice: ThemeChoice): void {
  try {
    if (choice === 'system') localStorage.removeItem(THEME_KEY);
    else localStorage.setItem(THEME_KEY, choice);
  } catch {
    // Storage refused (private mode): the choice holds for this page only.
  }
  const dark = choice === 'dark' || (choice === 'system' && matchMedia('(prefers-color-scheme: dark)').matches);
  document.documentElement.classList.toggle('dark', dark);
}

/** Whether the dark theme is on now, following changes (for what CSS does not colour, such as chart canvases). */
export function useDarkTheme(): boolean {
  const [dark, setDark] = useState(false);
  useEffect(() => {
    const html = document.documentElement;
    const read = () => setDark(html.classList.contains('dark'));
    read();
    const observer = new MutationObserver(read);
    observer.observe(html, { attributes: true, attributeFilter: ['class'] });
    return () => observer.disconnect();
  }, []);
  return dark;
}
