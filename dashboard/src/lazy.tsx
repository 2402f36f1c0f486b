// Code splitting without preact/compat: a component whose module is imported on first render.
import type { ComponentType } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { Loading } from './components/ui';

export function lazy<P extends object>(load: () => Promise<ComponentType<P>>): ComponentType<P> {
  let loaded: ComponentType<P> | null = null;
  return function Lazy(props: P) {
    const [C, setC] = useState<ComponentType<P> | null>(() => loaded);
    const [error, setError] = useState<string | null>(null);
    useEffect(() => {
      if (!C) load().then((c) => { loaded = c; setC(() => c); }, (e: unknown) => setError(String(e)));
    }, []);
    if (error) return <div class="banner banner-error" role="alert">Could not load this page: {error}</div>;
    return C ? <C {...props} /> : <Loading />;
  };
}
