import type { Metadata } from 'next';
import Link from 'next/link';
import type { ReactNode } from 'react';
import './globals.css';
import { currentIdentity } from '@/lib/auth/server-identity';
import { modelInfo } from '@/lib/workbench/server';
import { hasRole } from '@/lib/auth/roles';
import { SignOutButton } from './_components/SignOutButton';

export const metadata: Metadata = { title: 'cotscope', description: 'Chain-of-thought interpretability workbench for gpt-oss' };
export const dynamic = 'force-dynamic';

async function ModelBadge() {
  const model = await modelInfo().catch(() => null);
  if (!model) return <span className="badge warn">no model loaded</span>;
  return (
    <span className="model" data-testid="model-badge">
      {model.name} <small>{model.numLayers} layers x {model.numExperts} experts</small>
      {model.generated ? (
        <span className="badge warn" title="Random weights written by lib/model/generate.ts: routing and text are not meaningful.">
          tiny generated model (random weights{model.preset ? `, preset ${model.preset}` : ''})
        </span>
      ) : null}
    </span>
  );
}

export default async function RootLayout({ children }: { children: ReactNode }) {
  const identity = await currentIdentity();
  return (
    <html lang="en">
      <body>
        <header className="topbar">
          <Link href="/" className="brand">cotscope</Link>
          <nav>
            <Link href="/">Traces</Link>
            <Link href="/run">Live run</Link>
            <Link href="/jobs">Jobs</Link>
            <Link href="/compare">Compare</Link>
            <Link href="/collections">Collections</Link>
            {identity && hasRole(identity, 'admin') ? <Link href="/admin">Admin</Link> : null}
          </nav>
          <ModelBadge />
          <span className="identity" data-testid="identity">
            {identity === null ? (
              <Link href="/login">sign in</Link>
            ) : identity.mode === 'local' ? (
              <span title="No users exist: the single local user has the researcher role and can read raw chain of thought. The server answers on 127.0.0.1 only; add users with npx cotscope users add.">
                local mode: you are a <b>researcher</b> (no users, loopback only)
              </span>
            ) : (
              <>
                {identity.name} <span className="badge" data-testid="identity-role">{identity.role}</span> <SignOutButton />
              </>
            )}
          </span>
        </header>
        <main>{children}</main>
      </body>
    </html>
  );
}
