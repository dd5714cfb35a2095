import type { Metadata, Viewport } from 'next';
import type { ReactNode } from 'react';
import { THEME_SCRIPT } from '~/lib/theme';
import { ApiProvider } from '~/trpc/client';
import './globals.css';

export const metadata: Metadata = {
  title: { default: 'Tula', template: '%s · Tula' },
  description: 'Fleet management for Direct Server Return load balancers',
};

export const viewport: Viewport = { width: 'device-width', initialScale: 1 };

export default function RootLayout({ children }: { children: ReactNode }) {
  return (
    // The theme script sets the class before React hydrates; React is told not to mind.
    <html lang="en" suppressHydrationWarning>
      <head>
        <script dangerouslySetInnerHTML={{ __html: THEME_SCRIPT }} />
      </head>
      <body className="min-h-screen bg-slate-50 text-slate-900 antialiased">
        <ApiProvider>{children}</ApiProvider>
      </body>
    </html>
  );
}
