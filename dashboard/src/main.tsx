// Entry point of the Edgedesk staff dashboard (Vite + Preact). See components/App.tsx.
import { render } from 'preact';
import { App } from './components/App';
import './style.css';

render(<App />, document.getElementById('app')!);
